//! Files only their owner may read (private keys): folders made 0700, files 0600, and a
//! replacement that another process reading meanwhile sees whole or not at all.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Makes `dir` (and its parents) with mode 0700; a folder already there is fine.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a new file with mode 0600; a file already there is an error (nothing is
/// overwritten, and no other mode survives).
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Writes `path` (mode 0600) over whatever is there, through a temporary file beside it and a
/// rename, so that a reader sees the old file or the new one, never half of one.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = fs::remove_file(&temporary);
    write_new(&temporary, bytes).and_then(|()| fs::rename(&temporary, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_in_0700_folders_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("a/b");
        create_dir(&folder).expect("made");
        create_dir(&folder).expect("already there");
        let file = folder.join("key");
        write_new(&file, b"one").expect("written");
        assert!(write_new(&file, b"two").is_err(), "never overwritten");
        replace(&file, b"three").expect("replaced");
        assert_eq!(fs::read(&file).expect("read"), b"three");
        assert_eq!(
            fs::read_dir(&folder).expect("list").count(),
            1,
            "no temporary left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!((mode(&folder), mode(&file)), (0o700, 0o600));
        }
    }
}
