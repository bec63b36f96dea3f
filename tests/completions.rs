//! `registry-gc completions` and `registry-gc man`: bash completes from the
//! generated script, and `man` renders every generated page without warnings.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn ours(args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_registry-gc"))
        .args(args)
        .output()
        .expect("run registry-gc");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// What bash's completion function (found through `complete -p`) offers for
/// `words`, the last one being completed, as a non-interactive bash sees it.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source '{}'
f=$(complete -p registry-gc | sed -E 's/.* -F ([^ ]+) .*/\1/')
COMP_WORDS=({})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
prev=${{COMP_WORDS[COMP_CWORD-1]}}
"$f" registry-gc "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.display(),
        quoted.join(" ")
    );
    let o = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("registry-gc.bash");
    fs::write(&script, ours(&["completions", "bash"]).stdout).unwrap();
    let complete = |words: &[&str]| bash_complete(&script, words);
    assert_eq!(
        complete(&["registry-gc", "garbage-collect", "--dr"]),
        ["--dry-run"]
    );
    assert_eq!(complete(&["registry-gc", "pr"]), ["prune-tags"]);
    assert_eq!(complete(&["registry-gc", "pu"]), ["purge-uploads"]);
    assert_eq!(
        complete(&["registry-gc", "prune-tags", "--kee"]),
        ["--keep-last", "--keep"]
    );
    assert_eq!(
        complete(&["registry-gc", "purge-uploads", "--metr"]),
        ["--metrics-file"]
    );
    assert_eq!(complete(&["registry-gc", "completions", "f"]), ["fish"]);
}

#[test]
fn zsh_and_fish_scripts_name_the_flags() {
    let zsh = String::from_utf8(ours(&["completions", "zsh"]).stdout).unwrap();
    assert!(zsh.starts_with("#compdef registry-gc\n"), "{zsh}");
    assert!(zsh.contains("--dry-run"));
    let fish = String::from_utf8(ours(&["completions", "fish"]).stdout).unwrap();
    assert!(fish.contains("complete -c registry-gc"), "{fish}");
    assert!(fish.contains("-l dry-run"));
}

#[test]
fn man_pages_render_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    ours(&["man", "--dir", out.to_str().unwrap()]);
    let mut pages: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "registry-gc-completions.1",
            "registry-gc-garbage-collect.1",
            "registry-gc-inventory.1",
            "registry-gc-man.1",
            "registry-gc-prune-tags.1",
            "registry-gc-purge-uploads.1",
            "registry-gc.1",
        ]
    );
    for page in &pages {
        let o = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(out.join(page))
            .env("MANWIDTH", "80")
            .env_remove("MAN_KEEP_FORMATTING")
            .output()
            .expect("run man");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{page}");
        assert!(
            o.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{page}: {text}"
        );
    }
    let gc = fs::read_to_string(out.join("registry-gc-garbage-collect.1")).unwrap();
    assert!(gc.contains("metrics\\-file"), "{gc}");
    let top = fs::read_to_string(out.join("registry-gc.1")).unwrap();
    assert!(top.contains("registry\\-gc\\-prune\\-tags(1)"), "{top}");
}
