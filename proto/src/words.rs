//! Counts in the command-line tools' English output ("1 seed", "3 seeds"): shared by
//! `keyward` and `kw`, so that no message says "seed(s)".

use std::fmt::Display;

/// `n` and the noun that agrees with it: `one` for 1, `other` for every other number.
pub fn count<N: Display>(n: N, one: &str, other: &str) -> String {
    let n = n.to_string();
    let noun = if n == "1" { one } else { other };
    format!("{n} {noun}")
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn the_noun_agrees_with_zero_one_and_two() {
        assert_eq!(count(0_usize, "seed", "seeds"), "0 seeds");
        assert_eq!(count(1_u64, "seed", "seeds"), "1 seed");
        assert_eq!(count(2_i64, "seed", "seeds"), "2 seeds");
        assert_eq!(count(-1_i64, "item", "items"), "-1 items");
    }
}
