//! Dynamic agents, pairing with the operator CLI, media roots, and the terminal chat client.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{last_text, open_config, write_script, Server};
use serde_json::json;

const SHOW_CWD: &str = "cat > /dev/null\necho \"cwd=$(pwd)\"\nif [ -f user-profile.md ]; then cat user-profile.md; fi\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_agents_get_their_own_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("agents-root");
    let script = write_script(dir.path(), "cwd.sh", SHOW_CWD);
    let config = open_config(json!({
        "dynamicAgentCreation": {
            "enabled": true,
            "workspaceTemplate": format!("{}/workspace-{{agentId}}", root.display()),
            "agentDirTemplate": format!("{}/agents/{{agentId}}/agent", root.display()),
            "maxAgents": 2
        },
        "agent": {"backend": "exec", "exec": {"command": ["sh", script.display().to_string()]}}
    }));
    let server = Server::start(&config, dir.path());

    let mut alice = server.ready("senderId=alice&senderName=Alice").await;
    let frames = alice.chat("hi", json!({})).await;
    let text = last_text(&frames);
    let workspace = root.join("workspace-ws-alice").canonicalize().unwrap();
    assert!(
        text.starts_with(&format!("cwd={}", workspace.display())),
        "{text}"
    );
    assert!(
        text.contains("User ID: alice") && text.contains("Name: Alice"),
        "{text}"
    );
    assert!(root.join("agents/ws-alice/agent").is_dir());

    // A hostile sender id never leaves the root.
    let mut evil = server.ready("senderId=..%2F..%2Fetc").await;
    let frames = evil.chat("hi", json!({})).await;
    assert_eq!(
        frames.last().unwrap()["type"],
        "chat.response",
        "{frames:?}"
    );
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            ["agents-root", "workspace", "cwd.sh", "config.json"].contains(&name.as_str())
                || name.starts_with("clawsocket.db"),
            "unexpected {name} outside the root"
        );
    }

    // maxAgents: the third sender uses the default agent and workspace.
    let mut carol = server.ready("senderId=carol").await;
    let text = last_text(&carol.chat("hi", json!({})).await);
    let default = dir.path().join("workspace").canonicalize().unwrap();
    assert!(
        text.starts_with(&format!("cwd={}", default.display())),
        "{text}"
    );
    drop(server);

    // After a restart alice keeps her agent (not provisioned again, still counted).
    std::fs::remove_file(workspace.join("user-profile.md")).unwrap();
    let server = Server::start(&config, dir.path());
    let mut alice = server.ready("senderId=alice").await;
    let text = last_text(&alice.chat("hi again", json!({})).await);
    assert_eq!(text, format!("cwd={}", workspace.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_with_the_operator_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = open_config(json!({"dmPolicy": "pairing", "allowFrom": ["boss"]}));
    let server = Server::start(&config, dir.path());
    let mut boss = server.ready("senderId=boss").await;
    assert_eq!(
        boss.chat("hi", json!({})).await.last().unwrap()["type"],
        "chat.response"
    );

    let mut guest = server.ready("senderId=guest").await;
    let frames = guest.chat("let me in", json!({})).await;
    let error = frames.last().unwrap();
    assert_eq!(error["code"], "pairing_required", "{error}");
    let code = error["pairingCode"]
        .as_str()
        .expect("pairing code")
        .to_owned();

    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_clawsocket"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The request reaches the store shortly after.
    let mut listed = String::new();
    for _ in 0..50 {
        listed = cli(&["pairing", "list"]);
        if listed.contains(&code) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        listed.contains(&format!("{code}\tpending\tguest")),
        "{listed}"
    );
    assert!(cli(&["pairing", "approve", &code.to_lowercase()]).contains("approved"));

    let mut admitted = false;
    for _ in 0..50 {
        let frames = guest.chat("let me in", json!({})).await;
        if frames.last().unwrap()["type"] == "chat.response" {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(admitted, "approval applied by the running server");
    assert!(cli(&["pairing", "list"]).contains(&format!("{code}\tapplied\tguest")));
    drop(server);

    // The approval survives a restart.
    let server = Server::start(&config, dir.path());
    let mut guest = server.ready("senderId=guest").await;
    assert_eq!(
        guest.chat("back", json!({})).await.last().unwrap()["type"],
        "chat.response"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_paths_resolve_under_the_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(media.join("uploads")).unwrap();
    std::fs::write(media.join("uploads/cat.png"), b"png").unwrap();
    std::fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), media.join("escape.txt")).unwrap();
    let config = open_config(json!({"media": {"root": media.display().to_string()}}));
    let server = Server::start(&config, dir.path());
    let mut ws = server.ready("senderId=m").await;

    let text = last_text(
        &ws.chat(
            "look",
            json!({"mediaPath": "uploads/cat.png", "mediaType": "image/png"}),
        )
        .await,
    );
    let resolved = media.join("uploads/cat.png").canonicalize().unwrap();
    assert!(
        text.contains(&format!("Attachment (file): {}.", resolved.display())),
        "{text}"
    );
    let text = last_text(
        &ws.chat("link", json!({"mediaPaths": ["https://example.com/a.png"]}))
            .await,
    );
    assert!(
        text.contains("Attachment (link): https://example.com/a.png."),
        "{text}"
    );
    for bad in ["escape.txt", "missing.png"] {
        let frames = ws.chat("look", json!({"mediaPath": bad})).await;
        let last = frames.last().unwrap();
        assert_eq!(last["type"], "chat.error", "{bad}: {frames:?}");
        assert!(!last["error"].as_str().unwrap().contains("secret"));
    }
    for bad in ["/etc/passwd", "../secret.txt", "~/x"] {
        let frames = ws.chat("look", json!({"mediaPath": bad})).await;
        assert_eq!(frames.last().unwrap()["code"], "invalid_media", "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_chat_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&open_config(json!({})), dir.path());
    let url = server.url("senderId=cli&senderName=Cli");
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clawsocket"))
            .args(["chat", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"My name is Cli\nWhat is my name?\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("[connected as cli, unauthenticated]"),
        "{stdout}"
    );
    assert!(stdout.contains("agent> Nice to meet you, Cli!"), "{stdout}");
    assert!(stdout.contains("agent> Your name is Cli."), "{stdout}");
}
