//! The command line: flags that switch capabilities off or make the agent misbehave.

/// What the command line asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `--no-load`: no `loadSession` capability; `session/load` is "method not found".
    pub no_load: bool,
    /// `--no-resume`: no `sessionCapabilities.resume`; `session/resume` is "method not found".
    pub no_resume: bool,
    /// `--hang-initialize`: `initialize` is read and never answered.
    pub hang_initialize: bool,
    /// `--exit-on-start N`: exit with status N before reading anything.
    pub exit_on_start: Option<i32>,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Flags, String> {
    let mut flags = Flags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-load" => flags.no_load = true,
            "--no-resume" => flags.no_resume = true,
            "--hang-initialize" => flags.hang_initialize = true,
            "--exit-on-start" => {
                let value = args.next().ok_or("--exit-on-start needs a status")?;
                let status = value
                    .parse()
                    .map_err(|_| format!("--exit-on-start: not a status: {value}"))?;
                flags.exit_on_start = Some(status);
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_every_flag() {
        let flags = parse(args(&[
            "--no-load",
            "--no-resume",
            "--hang-initialize",
            "--exit-on-start",
            "7",
        ]))
        .unwrap();
        assert_eq!(
            flags,
            Flags {
                no_load: true,
                no_resume: true,
                hang_initialize: true,
                exit_on_start: Some(7)
            }
        );
        assert_eq!(parse(args(&[])).unwrap(), Flags::default());
    }

    #[test]
    fn refuses_bad_arguments() {
        assert!(parse(args(&["--exit-on-start"])).is_err());
        assert!(parse(args(&["--exit-on-start", "x"])).is_err());
        assert!(parse(args(&["--bogus"])).is_err());
    }
}
