//! Attachments: URLs pass through; relative paths (the core refuses absolute ones and `..`)
//! are resolved under the configured media root, following symlinks, and must stay inside it.

use std::path::{Path, PathBuf};

use clawsocket_core::{Media, MediaKind};

/// Rewrites every path attachment to its canonical location under `root`, or says why not.
pub fn resolve(root: Option<&Path>, media: &mut [Media]) -> Result<(), String> {
    for item in media.iter_mut().filter(|m| m.kind == MediaKind::Path) {
        let Some(root) = root else {
            return Err("Media paths are not accepted by this server (no media root configured); send a URL".into());
        };
        item.location = resolve_one(root, &item.location)?.display().to_string();
    }
    Ok(())
}

fn resolve_one(root: &Path, relative: &str) -> Result<PathBuf, String> {
    let refused = || format!("Media path {relative:?} is not available");
    let root = root.canonicalize().map_err(|_| refused())?;
    let full = root.join(relative).canonicalize().map_err(|_| refused())?;
    if full.starts_with(&root) && full.is_file() {
        Ok(full)
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Media {
        Media {
            kind: MediaKind::Path,
            location: p.into(),
            mime_type: None,
        }
    }

    #[test]
    fn resolves_inside_and_refuses_outside() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.png"), b"x").unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .unwrap();

        let mut ok = vec![path("a.png")];
        resolve(Some(root.path()), &mut ok).unwrap();
        assert!(ok[0].location.ends_with("a.png") && ok[0].location.starts_with('/'));

        assert!(resolve(Some(root.path()), &mut [path("link")]).is_err());
        assert!(resolve(Some(root.path()), &mut [path("missing.png")]).is_err());
        assert!(resolve(None, &mut [path("a.png")]).is_err());
        let mut url = vec![Media {
            kind: MediaKind::Url,
            location: "https://x/y".into(),
            mime_type: None,
        }];
        resolve(None, &mut url).unwrap();
        assert_eq!(url[0].location, "https://x/y");
    }
}
