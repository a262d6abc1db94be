//! Dynamic agents: a workspace and an agent directory per direct-message sender, expanded from
//! the configured templates, with a `user-profile.md` written from the auth data. The core
//! already sanitises agent ids; the paths are still checked here so that no value substituted
//! into a template (a `{userId}` above all) can leave the template's fixed root.

use std::path::{Component, Path, PathBuf};

use clawsocket_core::AgentProvision;

use crate::settings::expand_home;

/// The directories created for one agent.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The agent's workspace.
    pub workspace: PathBuf,
    /// The agent's own directory.
    pub agent_dir: PathBuf,
}

/// Creates the agent's directories and profile.
pub fn provision(
    workspace_template: &str,
    agent_dir_template: &str,
    agent: &AgentProvision,
) -> Result<Provisioned, String> {
    let workspace = expand(workspace_template, agent)?;
    let agent_dir = expand(agent_dir_template, agent)?;
    for dir in [&workspace, &agent_dir] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // Symlinks inside the root could still point elsewhere: check the real paths too.
    for (template, dir) in [
        (workspace_template, &workspace),
        (agent_dir_template, &agent_dir),
    ] {
        let root = fixed_root(template);
        let (real_root, real_dir) = (canonical(&root)?, canonical(dir)?);
        if !real_dir.starts_with(&real_root) || real_dir == real_root {
            return Err(format!(
                "{} leaves its root {}",
                dir.display(),
                root.display()
            ));
        }
    }
    std::fs::write(workspace.join("user-profile.md"), profile(agent))
        .map_err(|e| format!("{}: {e}", workspace.display()))?;
    Ok(Provisioned {
        workspace,
        agent_dir,
    })
}

fn canonical(path: &Path) -> Result<PathBuf, String> {
    path.canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The template's directory before its first placeholder (`~/.openclaw` for
/// `~/.openclaw/workspace-{agentId}`).
fn fixed_root(template: &str) -> PathBuf {
    let head = template.split('{').next().unwrap_or("");
    let dir = match head.rfind('/') {
        Some(i) => &head[..i.max(1)],
        None => ".",
    };
    expand_home(dir)
}

/// Substitutes the placeholders; a value that is not a single plain path segment is refused.
fn expand(template: &str, agent: &AgentProvision) -> Result<PathBuf, String> {
    for (placeholder, value) in [("{agentId}", &agent.agent_id), ("{userId}", &agent.user_id)] {
        if template.contains(placeholder) && !is_plain_segment(value) {
            return Err(format!("{value:?} cannot be used in a path"));
        }
    }
    let path = expand_home(
        &template
            .replace("{agentId}", &agent.agent_id)
            .replace("{userId}", &agent.user_id),
    );
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("{} contains ..", path.display()));
    }
    Ok(path)
}

fn is_plain_segment(value: &str) -> bool {
    !value.is_empty()
        && value != "."
        && value != ".."
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

fn profile(agent: &AgentProvision) -> String {
    let mut text = format!(
        "# User profile\n\n- Agent: {}\n- User ID: {}\n",
        agent.agent_id, agent.user_id
    );
    if let Some(name) = &agent.user_name {
        text.push_str(&format!("- Name: {name}\n"));
    }
    if let Some(auth) = &agent.auth {
        let pretty = serde_json::to_string_pretty(auth).unwrap_or_default();
        text.push_str(&format!(
            "\n## Data from the auth service\n\n```json\n{pretty}\n```\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(user: &str) -> AgentProvision {
        AgentProvision {
            agent_id: "ws-alice".into(),
            user_id: user.into(),
            user_name: Some("Alice".into()),
            auth: Some(serde_json::json!({"userId": user, "plan": "pro"})),
        }
    }

    #[test]
    fn creates_dirs_and_profile_under_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display();
        let made = provision(
            &format!("{root}/workspace-{{agentId}}"),
            &format!("{root}/agents/{{agentId}}/agent"),
            &agent("alice"),
        )
        .unwrap();
        let text = std::fs::read_to_string(made.workspace.join("user-profile.md")).unwrap();
        assert!(text.contains("User ID: alice") && text.contains("\"plan\": \"pro\""));
        assert!(made.agent_dir.ends_with("agents/ws-alice/agent"));
    }

    #[test]
    fn refuses_escaping_user_ids() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display();
        for bad in ["../x", "..", "a/b", "", "a\\b"] {
            assert!(provision(
                &format!("{root}/w-{{userId}}"),
                &format!("{root}/a-{{agentId}}"),
                &agent(bad)
            )
            .is_err());
        }
    }

    #[test]
    fn refuses_symlinked_escape() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("workspace-ws-alice")).unwrap();
        let root = dir.path().display();
        let err = provision(
            &format!("{root}/workspace-{{agentId}}"),
            &format!("{root}/a-{{agentId}}"),
            &agent("alice"),
        );
        assert!(err.is_err());
    }
}
