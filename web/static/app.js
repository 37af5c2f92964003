// Progressive enhancement for the dashboard: a countdown for revealed codes, copy buttons and
// the report's print button.
// Loaded as an external file (the Content-Security-Policy forbids inline script).
'use strict';

// What screen readers should hear: the page's one polite live region.
function announce(text) {
  const region = document.getElementById('announcer');
  if (!region || !text) return;
  region.textContent = '';
  // A new text node after a tick, so the same words are announced again.
  setTimeout(() => { region.textContent = text; }, 50);
}

// A count in a text, as the server's i18n::count fills it: `{n}` is the number and
// `{n|one|other}` the word that agrees with it ("1 second", "2 seconds").
function withCount(text, n) {
  return text.replace(/\{n\|([^|}]*)\|([^}]*)\}/g, (_, one, other) => (n === 1 ? one : other)).replaceAll('{n}', String(n));
}

// An expired TOTP code offers *Reveal again* in its place: it sends the page's reveal form,
// whose reason is still the one typed before.
function offerRevealAgain(box, label) {
  const form = document.querySelector('form[data-reveal-form]');
  if (!form || !label) return;
  const again = document.createElement('button');
  again.type = 'button';
  again.className = 'button primary';
  again.dataset.testid = 'reveal-again';
  again.textContent = label;
  again.addEventListener('click', () => {
    again.disabled = true;
    form.querySelectorAll('button[type=submit]').forEach((b) => { b.disabled = true; });
    form.submit();
  });
  box.appendChild(again);
}

function startCountdowns() {
  document.querySelectorAll('[data-expires-in]').forEach((el) => {
    let left = Number(el.dataset.expiresIn);
    const box = el.closest('.code-box');
    const bar = box && box.querySelector('progress');
    const code = box && box.querySelector('.code');
    const tick = () => {
      left -= 1;
      if (left <= 0) {
        clearInterval(timer);
        el.textContent = '0';
        if (code) code.classList.add('expired');
        // A password is hidden again, its copy button with it.
        if (el.hasAttribute('data-hide-code') && code) {
          code.textContent = '••••••••';
          box.querySelectorAll('[data-copy]').forEach((b) => b.removeAttribute('data-copy'));
        }
        if (box) {
          box.querySelectorAll('.copy').forEach((b) => { b.disabled = true; });
          const note = document.createElement('p');
          note.className = 'notice';
          note.textContent = el.dataset.expiredText || '';
          box.appendChild(note);
          offerRevealAgain(box, el.dataset.againText);
        }
        announce(el.dataset.expiredText);
        return;
      }
      if ((left === 10 || left === 1) && el.dataset.soonText) announce(withCount(el.dataset.soonText, left));
      el.textContent = String(left);
      if (bar) bar.value = left;
    };
    const timer = setInterval(tick, 1000);
  });
}

function startCopyButtons() {
  document.querySelectorAll('button[data-copy]').forEach((button) => {
    button.addEventListener('click', async () => {
      const original = button.textContent;
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = button.dataset.copiedText || original;
        announce(button.dataset.copiedText);
      } catch (err) {
        // Clipboard refused (e.g. no permission): select the code so it can be copied by hand.
        const code = button.parentElement.querySelector('.code');
        if (code) window.getSelection().selectAllChildren(code);
      }
      setTimeout(() => { button.textContent = original; }, 2000);
    });
  });
}

// A step-up from a form lands on a page with one link to the IdP: follow it at once. (A
// redirect straight from the form would leave the origin inside a form submission, which the
// Content-Security-Policy's form-action refuses; a link is an ordinary navigation.)
function followAtOnce() {
  const link = document.querySelector('a[data-follow-at-once]');
  if (link) window.location.assign(link.href);
}

// An access grant's time left, as h:mm:ss, down to its end (then the page says it has ended).
function startGrantCountdowns() {
  document.querySelectorAll('[data-ends-at]').forEach((el) => {
    const ends = Date.now() + Number(el.dataset.left) * 1000;
    const pad = (n) => String(n).padStart(2, '0');
    const show = () => {
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      if (left === 0) {
        clearInterval(timer);
        el.textContent = el.dataset.expiredText || '0';
        announce(el.dataset.expiredText);
        return;
      }
      const h = Math.floor(left / 3600);
      const m = Math.floor((left % 3600) / 60);
      el.textContent = `${h}:${pad(m)}:${pad(left % 60)}`;
    };
    const timer = setInterval(show, 1000);
    show();
  });
}

// The offboarding report's print button.
function startPrintButtons() {
  document.querySelectorAll('button[data-print]').forEach((button) => {
    button.addEventListener('click', () => window.print());
  });
}

document.addEventListener('DOMContentLoaded', () => {
  startCountdowns();
  startGrantCountdowns();
  startCopyButtons();
  startPrintButtons();
  followAtOnce();
});

// A file's bytes as base64 (in slices: a screenshot is too large for one call).
async function fileToBase64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

// The import form: files picked are read here and put in the form's text field — text files
// as they are, screenshots as base64, one per line — so the form stays a plain form.
function startFileFields() {
  document.querySelectorAll('input[type=file][data-file-into]').forEach((input) => {
    input.addEventListener('change', async () => {
      const target = document.getElementById(input.dataset.fileInto);
      if (!target) return;
      const parts = [];
      for (const file of input.files) {
        if (file.type.startsWith('image/')) {
          parts.push(await fileToBase64(file));
        } else {
          parts.push(await file.text());
        }
      }
      target.value = parts.join('\n');
    });
  });
}

document.addEventListener('DOMContentLoaded', startFileFields);

// A QR screenshot for the seed form: chosen, dropped on the zone, or pasted on the page; it
// goes into the form's hidden field as base64 and the zone says it is ready.
function startImageDrops() {
  document.querySelectorAll('[data-image-drop]').forEach((zone) => {
    const target = document.getElementById(zone.dataset.imageDrop);
    if (!target) return;
    const ready = zone.querySelector('[data-image-ready]');
    const take = async (file) => {
      if (!file || !file.type.startsWith('image/')) return;
      target.value = await fileToBase64(file);
      if (ready) ready.hidden = false;
    };
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      take(e.dataTransfer.files[0]);
    });
    document.addEventListener('paste', (e) => {
      const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith('image/'));
      if (item) take(item.getAsFile());
    });
    const input = zone.querySelector('input[type=file]');
    if (input) input.addEventListener('change', () => take(input.files[0]));
  });
}

document.addEventListener('DOMContentLoaded', startImageDrops);
