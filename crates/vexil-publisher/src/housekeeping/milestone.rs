//! GitLab milestones (`16.9`) and the arithmetic of its housekeeping cutoffs: "introduced at
//! least N milestones before the current one".

use std::fmt;

/// A `major.minor` milestone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Milestone {
    /// The major version.
    pub major: u32,
    /// The minor version.
    pub minor: u32,
}

impl Milestone {
    /// `16.9`; a VERSION file's `17.2.0-pre` reads as `17.2`, as GitLab's keep strips it.
    pub fn parse(text: &str) -> Result<Milestone, String> {
        let bad = || format!("{text:?} is not a milestone (expected major.minor, such as 17.2)");
        let number = |p: &str| -> Result<u32, String> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let (major, rest) = text.trim().split_once('.').ok_or_else(bad)?;
        let minor = rest.split_once('.').map_or(rest, |(minor, _patch)| minor);
        Ok(Milestone { major: number(major)?, minor: number(minor)? })
    }

    /// How many minors GitLab released in `major`: 13.0–13.12, 14.0–14.10, and twelve a year
    /// (x.0–x.11) before and since.
    fn minors_in(major: u32) -> u32 {
        match major {
            13 => 13,
            12 | 14 => 11,
            _ => 12,
        }
    }

    /// The milestone `n` releases before this one.
    pub fn before(self, n: u32) -> Milestone {
        let mut m = self;
        for _ in 0..n {
            if m.minor > 0 {
                m.minor -= 1;
            } else if m.major > 0 {
                m.major -= 1;
                m.minor = Milestone::minors_in(m.major) - 1;
            }
        }
        m
    }
}

impl fmt::Display for Milestone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::Milestone;

    fn m(text: &str) -> Milestone {
        Milestone::parse(text).unwrap()
    }

    #[test]
    fn reads_definitions_and_version_files() {
        assert_eq!(m("16.9"), Milestone { major: 16, minor: 9 });
        assert_eq!(m("17.2.0-pre\n"), Milestone { major: 17, minor: 2 });
        assert_eq!(m("16.11"), Milestone { major: 16, minor: 11 });
        for bad in ["", "16", "16.", "x.2", "16.x", "16.9x"] {
            assert!(Milestone::parse(bad).is_err(), "{bad:?}");
        }
        assert!(m("16.10") > m("16.9"), "compared as numbers, not text");
    }

    #[test]
    fn counts_back_across_majors_as_gitlab_released_them() {
        assert_eq!(m("17.2").before(4), m("16.10"));
        assert_eq!(m("17.2").before(12), m("16.2"));
        assert_eq!(m("15.1").before(2), m("14.10"), "14 ended at 14.10");
        assert_eq!(m("14.0").before(1), m("13.12"), "13 ended at 13.12");
        assert_eq!(m("0.1").before(5), m("0.0"));
    }
}
