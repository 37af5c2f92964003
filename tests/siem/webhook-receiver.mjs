// A SIEM-style HTTPS webhook receiver for the forwarding tests. It checks every delivery's
// HMAC signature and timestamp the way a receiver should, answers 204 to good deliveries,
// 401 to badly signed ones and 503 to the first FAIL_FIRST good ones, and prints one JSON
// line per request on stdout for the test to read.
//
// usage: node webhook-receiver.mjs PORT CERT.pem KEY.pem SECRET_FILE [FAIL_FIRST]
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';

const [port, certFile, keyFile, secretFile, failFirst] = process.argv.slice(2);
const secret = fs.readFileSync(secretFile, 'utf8').trim();
let failuresLeft = Number(failFirst || 0);

function signatureValid(timestamp, signature, body) {
  if (!timestamp || !signature) return false;
  const expected = 'sha256=' + crypto.createHmac('sha256', secret)
    .update(`${timestamp}.`).update(body).digest('hex');
  const a = Buffer.from(signature);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const server = https.createServer({
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
}, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const timestamp = req.headers['x-keyward-timestamp'];
    const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
    if (req.method !== 'POST' || !fresh
        || !signatureValid(timestamp, req.headers['x-keyward-signature'], body)) {
      console.log(JSON.stringify({ rejected: 'signature', status: 401 }));
      res.writeHead(401).end();
      return;
    }
    if (failuresLeft > 0) {
      failuresLeft -= 1;
      console.log(JSON.stringify({ rejected: 'fail_first', status: 503 }));
      res.writeHead(503).end();
      return;
    }
    console.log(JSON.stringify({
      delivery: req.headers['x-keyward-delivery'],
      content_type: req.headers['content-type'],
      body: JSON.parse(body.toString('utf8')),
    }));
    res.writeHead(204).end();
  });
});

server.listen(Number(port), '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
process.on('SIGTERM', () => process.exit(0));
