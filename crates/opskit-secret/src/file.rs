//! Secrets read from mounted files.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use secrecy::{SecretSlice, SecretString};
use zeroize::Zeroizing;

/// The default size limit of a secret file: 64 KiB.
///
/// Tokens, passwords and connection strings are far smaller; a PEM certificate chain
/// fits comfortably. A larger file is almost always the wrong file (a log, a dump), so
/// it is refused rather than read into memory. Raise the limit with
/// [`SecretFile::max_bytes`].
pub const DEFAULT_MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A secret stored in a file, as Docker (`/run/secrets/NAME`) and Kubernetes secret
/// volumes mount them.
///
/// Reading:
/// - strips trailing line endings (`\n` and `\r\n`, as many as there are), and
///   nothing else: spaces and tabs are part of the secret;
/// - refuses an empty file, a directory, a FIFO, a socket or a device (without
///   blocking on them), a file over the size limit and, for
///   [`read_string`](Self::read_string), content that is not UTF-8;
/// - follows symbolic links, so the `..data` symlink that Kubernetes swaps
///   atomically on rotation works;
/// - logs a `secret.file_permissions` warning through [`tracing`] when the file is
///   readable by others, or by a group the process is not in (Kubernetes mounts
///   secrets `0644` unless `defaultMode` says otherwise; `0440` with the pod's
///   `fsGroup` is the setup that works for a non-root container, and passes).
///   [`read_string_quietly`](Self::read_string_quietly) returns the warning instead.
///
/// Every error names the path and the problem, never the content. The bytes read are
/// zeroed in memory once the secret has been copied out of the read buffer.
///
/// ```
/// use opskit_secret::{ExposeSecret, SecretFile, SecretFileError};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("api_token");
/// std::fs::write(&path, "t0ken\r\n")?;
/// let token = SecretFile::new(&path).read_string()?;
/// assert_eq!(token.expose_secret(), "t0ken");
///
/// std::fs::write(&path, "")?;
/// let err = SecretFile::new(&path).read_string().unwrap_err();
/// assert!(matches!(err, SecretFileError::Empty { .. }));
/// assert!(err.to_string().contains("api_token"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SecretFile {
    path: PathBuf,
    max_bytes: u64,
}

impl SecretFile {
    /// A secret file at `path`, with the [default size limit](DEFAULT_MAX_SECRET_FILE_BYTES).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_bytes: DEFAULT_MAX_SECRET_FILE_BYTES,
        }
    }

    /// Sets the largest file accepted, in bytes.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The path this secret is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the secret as UTF-8 text.
    ///
    /// # Errors
    ///
    /// A [`SecretFileError`] naming the path when the file is missing, unreadable, a
    /// directory, empty (after stripping line endings), over the size limit, or not
    /// UTF-8.
    pub fn read_string(&self) -> Result<SecretString, SecretFileError> {
        let (secret, warning) = self.read_string_quietly()?;
        if let Some(warning) = warning {
            warning.log();
        }
        Ok(secret)
    }

    /// Reads the secret as UTF-8 text, returning the permission warning rather than
    /// logging it: for a caller that reads secrets before logging is set up and
    /// logs the warning later (opskit-config does).
    ///
    /// # Errors
    ///
    /// As [`read_string`](Self::read_string).
    pub fn read_string_quietly(
        &self,
    ) -> Result<(SecretString, Option<SharedSecretFile>), SecretFileError> {
        let (buf, warning) = self.read_raw()?;
        let content = std::str::from_utf8(&buf).map_err(|_| SecretFileError::NotUtf8 {
            path: self.path.clone(),
        })?;
        // `Box<str>::from` allocates exactly once; `buf` (which also holds the stripped
        // line ending) is zeroed when it drops.
        Ok((SecretString::from(Box::<str>::from(content)), warning))
    }

    /// Reads the secret as raw bytes (a key file, say).
    ///
    /// # Errors
    ///
    /// As [`read_string`](Self::read_string), except that any bytes are accepted.
    pub fn read_bytes(&self) -> Result<SecretSlice<u8>, SecretFileError> {
        let (buf, warning) = self.read_raw()?;
        if let Some(warning) = warning {
            warning.log();
        }
        Ok(SecretSlice::from(buf.to_vec()))
    }

    /// Reads the file, strips trailing line endings and checks size and emptiness.
    /// The returned buffer is truncated to the secret and zeroed on drop.
    fn read_raw(&self) -> Result<(Zeroizing<Vec<u8>>, Option<SharedSecretFile>), SecretFileError> {
        let path = &self.path;
        // Look before opening: opening a FIFO blocks until a writer comes, which
        // would hang startup with no output. The check follows symbolic links, as
        // Kubernetes' `..data` link needs.
        let metadata =
            std::fs::metadata(path).map_err(|source| SecretFileError::from_io(path, source))?;
        refuse_unless_regular(path, &metadata)?;
        let file =
            open_without_blocking(path).map_err(|source| SecretFileError::from_io(path, source))?;
        // And again on what was opened, in case the path changed in between.
        let metadata = file
            .metadata()
            .map_err(|source| SecretFileError::from_io(path, source))?;
        refuse_unless_regular(path, &metadata)?;
        if metadata.len() > self.max_bytes {
            return Err(SecretFileError::TooLarge {
                path: path.clone(),
                size: metadata.len(),
                max: self.max_bytes,
            });
        }
        let warning = shared(path, &metadata);

        // Files in /proc and pipes report a size of 0; `take` bounds the read anyway.
        let capacity = usize::try_from(metadata.len().saturating_add(1)).unwrap_or(0);
        let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|source| SecretFileError::from_io(path, source))?;
        if buf.len() as u64 > self.max_bytes {
            return Err(SecretFileError::TooLarge {
                path: path.clone(),
                size: buf.len() as u64,
                max: self.max_bytes,
            });
        }
        let len = strip_line_endings(&buf).len();
        if len == 0 {
            return Err(SecretFileError::Empty { path: path.clone() });
        }
        // Truncating keeps the capacity, so no byte is moved or left unzeroed.
        buf.truncate(len);
        Ok((buf, warning))
    }
}

/// Refuses anything but a regular file: a directory, a FIFO, a socket, a device.
fn refuse_unless_regular(path: &Path, metadata: &std::fs::Metadata) -> Result<(), SecretFileError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    if kind.is_dir() {
        return Err(SecretFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Err(SecretFileError::NotRegular {
        path: path.to_path_buf(),
        kind: special_kind(&kind),
    })
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_kind(_kind: &std::fs::FileType) -> &'static str {
    "not a regular file"
}

/// Opens for reading without waiting for a writer, should the path have become a
/// FIFO since it was looked at (`O_NONBLOCK` does nothing to a regular file).
fn open_without_blocking(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        options.custom_flags(O_NONBLOCK);
    }
    options.open(path)
}

/// Removes trailing `\n` and `\r\n` (repeatedly), leaving any other whitespace.
fn strip_line_endings(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n'] = bytes {
        bytes = match rest {
            [rest @ .., b'\r'] => rest,
            _ => rest,
        };
    }
    bytes
}

/// A secret file that others can read: readable by every user, or by a group the
/// process is not a member of. Its `Display` says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSecretFile {
    /// The file.
    pub path: PathBuf,
    /// Its permission bits, such as `0o644`.
    pub mode: u32,
}

impl SharedSecretFile {
    /// Logs this as a `secret.file_permissions` warning event.
    pub fn log(&self) {
        tracing::warn!(
            event = "secret.file_permissions",
            path = %self.path.display(),
            mode = format_args!("{:04o}", self.mode),
            "{self}"
        );
    }
}

impl std::fmt::Display for SharedSecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "secret file {} is readable by users other than the service's (mode {:04o}); \
             restrict it: chmod 0400 (or 0440 with a group only the service is in), or on \
             Kubernetes defaultMode: 0440 with the pod's securityContext.fsGroup",
            self.path.display(),
            self.mode
        )
    }
}

/// The warning for a file readable by others, or by a group the process is not in.
#[cfg(unix)]
fn shared(path: &Path, metadata: &std::fs::Metadata) -> Option<SharedSecretFile> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = metadata.permissions().mode() & 0o777;
    let by_others = mode & 0o004 != 0;
    let by_foreign_group = mode & 0o040 != 0 && !process_in_group(metadata.gid());
    (by_others || by_foreign_group).then(|| SharedSecretFile {
        path: path.to_path_buf(),
        mode,
    })
}

#[cfg(not(unix))]
fn shared(_path: &Path, _metadata: &std::fs::Metadata) -> Option<SharedSecretFile> {
    None
}

/// Whether `gid` is the process's group or one of its supplementary groups (as
/// Kubernetes' `fsGroup` is). Read from `/proc/self/status`; elsewhere only a file
/// of no group passes, so the warning errs on the side of speaking.
#[cfg(unix)]
fn process_in_group(gid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .filter_map(|line| {
            line.strip_prefix("Gid:")
                .or_else(|| line.strip_prefix("Groups:"))
        })
        .flat_map(str::split_whitespace)
        .filter_map(|g| g.parse::<u32>().ok())
        .any(|g| g == gid)
}

/// Why a secret file could not be read. Every message names the path; none contains
/// the file's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretFileError {
    /// No file at the path.
    #[error("secret file {}: not found; mount the secret at this path or correct the path", path.display())]
    NotFound {
        /// The path that was read.
        path: PathBuf,
    },
    /// The file exists but this process may not read it.
    #[error("secret file {}: permission denied; make it readable by the user the service runs as", path.display())]
    PermissionDenied {
        /// The path that was read.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("secret file {}: is a directory, not a file; point to the file inside it", path.display())]
    NotAFile {
        /// The path that was read.
        path: PathBuf,
    },
    /// The path is a FIFO, a socket or a device: reading it could block or never end.
    #[error("secret file {}: is {kind}, not a regular file; point the variable at the secret's file", path.display())]
    NotRegular {
        /// The path that was read.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is empty, or holds only line endings.
    #[error("secret file {}: is empty; write the secret into the file", path.display())]
    Empty {
        /// The path that was read.
        path: PathBuf,
    },
    /// The file is larger than the limit.
    #[error("secret file {}: is {size} bytes, over the limit of {max} bytes; check that this is the secret's file", path.display())]
    TooLarge {
        /// The path that was read.
        path: PathBuf,
        /// The size found (at least this many bytes).
        size: u64,
        /// The limit in force.
        max: u64,
    },
    /// The content is not UTF-8 text.
    #[error("secret file {}: is not UTF-8 text; store the secret as text", path.display())]
    NotUtf8 {
        /// The path that was read.
        path: PathBuf,
    },
    /// Any other I/O error.
    #[error("secret file {}: cannot be read: {source}", path.display())]
    Io {
        /// The path that was read.
        path: PathBuf,
        /// The underlying error (its message never contains file content).
        source: io::Error,
    },
}

impl SecretFileError {
    fn from_io(path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match source.kind() {
            io::ErrorKind::NotFound => Self::NotFound { path },
            io::ErrorKind::PermissionDenied => Self::PermissionDenied { path },
            io::ErrorKind::IsADirectory => Self::NotAFile { path },
            _ => Self::Io { path, source },
        }
    }

    /// The path of the secret file at fault.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound { path }
            | Self::PermissionDenied { path }
            | Self::NotAFile { path }
            | Self::NotRegular { path, .. }
            | Self::Empty { path }
            | Self::TooLarge { path, .. }
            | Self::NotUtf8 { path }
            | Self::Io { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_line_endings() {
        assert_eq!(strip_line_endings(b"abc\n"), b"abc");
        assert_eq!(strip_line_endings(b"abc\r\n"), b"abc");
        assert_eq!(strip_line_endings(b"abc\n\n\r\n"), b"abc");
        assert_eq!(strip_line_endings(b"abc \t\n"), b"abc \t");
        assert_eq!(strip_line_endings(b"abc\r"), b"abc\r");
        assert_eq!(strip_line_endings(b" abc"), b" abc");
        assert_eq!(strip_line_endings(b"\n"), b"");
        assert_eq!(strip_line_endings(b""), b"");
    }
}
