//! Valgrind's name wildcards: `*` matches any run of characters (also
//! empty), `?` any one character, `\` makes the next character literal.

/// Whether `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`: linear
    // in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() => {}
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn star_question_and_escape() {
        assert!(glob_match("fun*", "function"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("__mbr*toc", "__mbrtowc"));
        assert!(!glob_match("__mbr*oc", "__mbrtowc"));
        assert!(glob_match("__mbr*wc", "__mbrtowc"));
        assert!(glob_match(
            "pthread_create@@GLIBC_*",
            "pthread_create@@GLIBC_2.34"
        ));
        assert!(glob_match("*/libX11.so*", "/usr/lib/libX11.so.6.2"));
        assert!(glob_match("libc-2.?.so", "libc-2.3.so"));
        assert!(!glob_match("libc-2.?.so", "libc-2.36.so"));
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "axb"));
        assert!(glob_match("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!glob_match("*a*b*c", "xxaxxbxxcxx"));
    }
}
