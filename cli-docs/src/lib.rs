//! Man pages and shell completions made from a binary's own clap command.
//!
//! `saml-harness`, `mock-idp` and `reference-sp` parse their command line with [`parse`], which
//! adds one hidden subcommand, `generate-docs DIR`, for packagers (`cargo xtask dist` runs it).
//! It writes the man pages of the command and of each subcommand (clap_mangen) into `DIR/man`
//! and its completions into `DIR/completions/{bash,zsh,fish}/`, named as each shell looks them
//! up (`NAME`, `_NAME`, `NAME.fish`). The pages and completions describe the command as users
//! see it: the hidden subcommand is added at parse time only, so it is in neither.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command, Parser};
use clap_complete::Shell;

/// The hidden subcommand's name.
pub const SUBCOMMAND: &str = "generate-docs";

/// What a binary's `main` does after [`parse`].
#[derive(Debug)]
pub enum Parsed<P> {
    /// The command line, for the binary to run.
    Cli(P),
    /// `generate-docs` ran (and said so on stderr): exit with this code.
    Done(ExitCode),
}

/// [`Parser::parse`] with the hidden `generate-docs DIR` subcommand: on it, writes the docs of
/// `P`'s command into DIR and returns [`Parsed::Done`] (exit code 0, or 2 when DIR cannot be
/// written).
pub fn parse<P: Parser>() -> Parsed<P> {
    parse_from(std::env::args_os())
}

/// [`parse`] over the given arguments (the first is the binary's name).
pub fn parse_from<P, I, T>(args: I) -> Parsed<P>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut matches = P::command()
        .subcommand(generate_docs())
        .get_matches_from(args);
    if let Some((SUBCOMMAND, sub)) = matches.subcommand() {
        return Parsed::Done(generate(&P::command(), sub));
    }
    match P::from_arg_matches_mut(&mut matches) {
        Ok(cli) => Parsed::Cli(cli),
        Err(e) => e.format(&mut P::command()).exit(),
    }
}

fn generate_docs() -> Command {
    Command::new(SUBCOMMAND)
        .about("Write the man pages and shell completions into DIR (for packagers)")
        .hide(true)
        .arg(
            Arg::new("dir")
                .value_name("DIR")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf)),
        )
}

// The binaries' edge: a packager reads what was written, or why not.
#[allow(clippy::print_stderr)]
fn generate(command: &Command, sub: &ArgMatches) -> ExitCode {
    let Some(dir) = sub.get_one::<PathBuf>("dir") else {
        return ExitCode::from(2);
    };
    match write(command, dir) {
        Ok(files) => {
            eprintln!("{} files written to {}", files.len(), dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: failed to write the docs into {}: {e}",
                dir.display()
            );
            ExitCode::from(2)
        }
    }
}

/// Writes the man pages of `command` and of each of its subcommands into `dir/man` (section
/// 1, uncompressed) and its bash, zsh and fish completions into `dir/completions/SHELL/`;
/// returns the files written, sorted.
pub fn write(command: &Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = command.get_name().to_owned();
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(command.clone(), &man)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&man)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    for (shell, file) in [
        (Shell::Bash, name.clone()),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let folder = dir.join("completions").join(shell.to_string());
        std::fs::create_dir_all(&folder)?;
        let path = folder.join(file);
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut command.clone(), &name, &mut text);
        if shell == Shell::Bash {
            text = bash_hyphen_fix(&String::from_utf8_lossy(&text), &name).into_bytes();
        }
        std::fs::File::create(&path)?.write_all(&text)?;
        files.push(path);
    }
    files.sort();
    Ok(files)
}

/// clap_complete's bash script names a subcommand's state `BIN__subcmd__SUB` where it is set
/// (the bin name's `-` written `__`) but `B__subcmd__IN__subcmd__SUB` where it is matched (the
/// `-` written `__subcmd__`), so for a binary with a `-` in its name (all three of ours) nothing
/// after a subcommand completes (clap-rs/clap#6421, open). The matching side is rewritten to the
/// setting side's spelling.
fn bash_hyphen_fix(script: &str, name: &str) -> String {
    const SEP: &str = "__subcmd__";
    if !name.contains('-') {
        return script.to_owned();
    }
    let wrong = format!("{}{SEP}", name.replace('-', SEP));
    let right = format!("{}{SEP}", name.replace('-', "__"));
    script.replace(&wrong, &right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// A tool.
    #[derive(Debug, Parser)]
    #[command(name = "a-tool", version)]
    struct Cli {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        /// Serve until interrupted.
        Serve {
            /// Address to listen on.
            #[arg(long)]
            bind: Option<String>,
        },
        /// Check a file.
        Check,
    }

    #[test]
    fn the_command_line_parses_as_without_the_hidden_subcommand() {
        let Parsed::Cli(cli) = parse_from::<Cli, _, _>(["a-tool", "serve", "--bind", "x"]) else {
            panic!("expected the command line");
        };
        assert!(matches!(cli.command, Sub::Serve { bind: Some(b) } if b == "x"));
    }

    #[test]
    fn generate_docs_writes_man_pages_and_completions_that_do_not_mention_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let Parsed::Done(_) = parse_from::<Cli, _, _>([
            OsString::from("a-tool"),
            OsString::from(SUBCOMMAND),
            dir.path().as_os_str().to_owned(),
        ]) else {
            panic!("expected the docs to be written");
        };
        let files = write(&Cli::command(), dir.path()).expect("written");
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .expect("under dir")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "completions/bash/a-tool",
                "completions/fish/a-tool.fish",
                "completions/zsh/_a-tool",
                "man/a-tool-check.1",
                "man/a-tool-serve.1",
                "man/a-tool.1",
            ]
        );
        for file in &files {
            let text = std::fs::read_to_string(file).expect("text");
            assert!(!text.contains(SUBCOMMAND), "{}: {text}", file.display());
            if !file.ends_with("man/a-tool-check.1") {
                assert!(text.contains("serve"), "{}: {text}", file.display());
            }
        }
        let page = std::fs::read_to_string(dir.path().join("man/a-tool-serve.1")).expect("page");
        assert!(page.contains("Address to listen on"), "{page}");
    }

    /// What bash offers for the words of `line` (the last one being completed).
    fn bash_complete(script: &Path, line: &[&str]) -> Vec<String> {
        let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; \
             $(complete -p {} | sed -E 's/.*-F ([^ ]+).*/\\1/') {} '{}' '{}'; echo \"${{COMPREPLY[*]}}\"",
            script.display(),
            words.join(" "),
            line.len() - 1,
            line[0],
            line[0],
            line[line.len() - 1],
            line[line.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(program)
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn bash_completes_a_hyphenated_binarys_subcommands_and_their_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(&Cli::command(), dir.path()).expect("written");
        let script = dir.path().join("completions/bash/a-tool");
        assert!(bash_complete(&script, &["a-tool", "se"]).contains(&"serve".to_owned()));
        assert_eq!(
            bash_complete(&script, &["a-tool", "serve", "--b"]),
            ["--bind"]
        );
    }
}
