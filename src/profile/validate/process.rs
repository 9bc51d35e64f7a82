//! `[process]`: command, working directory, environment, identity.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Cx, flag};
use crate::profile::diag::Diag;
use crate::profile::model::{Process, Terminal, User};
use crate::profile::raw::{self, OneOf, UserWord};
use crate::profile::source::Sp;

/// The command when the profile names none, as `docker run` falls back to
/// an image's shell.
const DEFAULT_COMMAND: &str = "/bin/sh";

pub(super) fn check(cx: &mut Cx, raw: &raw::Process) -> Option<Process> {
    let mut ok = true;
    let command = match &raw.command {
        Some(list) if list.value.is_empty() => {
            cx.error(
                Diag::at("profile::empty-command", list.span, "`command` is empty")
                    .help("name the program to run, e.g. [\"/bin/sh\"]"),
            );
            ok = false;
            Vec::new()
        }
        Some(list) => list.value.iter().map(|a| a.value.clone()).collect(),
        None => vec![DEFAULT_COMMAND.to_owned()],
    };
    let cwd = match &raw.cwd {
        Some(cwd) => cx.sandbox_path("`cwd`", cwd),
        None => Some(PathBuf::from("/")),
    };
    let mut env = BTreeMap::new();
    for (name, value) in &raw.env {
        ok &= env_name(cx, name, value);
        env.insert(name.clone(), value.value.clone());
    }
    for name in &raw.inherit_env {
        ok &= env_name(cx, &name.value, name);
    }
    let user = match &raw.user {
        None | Some(OneOf::Scalar(UserWord::Root)) => Some(User::Root),
        Some(OneOf::Scalar(UserWord::Host)) => Some(User::Host),
        Some(OneOf::Collection(ids)) => user_ids(cx, ids),
    };
    let terminal = match raw.terminal.as_ref().map(|t| t.value) {
        None | Some(raw::Terminal::Auto) => Terminal::Auto,
        Some(raw::Terminal::Always) => Terminal::Always,
        Some(raw::Terminal::Never) => Terminal::Never,
    };
    if !ok {
        return None;
    }
    Some(Process {
        command,
        cwd: cwd?,
        env,
        inherit_env: raw.inherit_env.iter().map(|n| n.value.clone()).collect(),
        user: user?,
        terminal,
        init: flag(raw.init.as_ref(), true),
    })
}

/// An environment variable name: not empty, no `=`, no NUL.
fn env_name<T>(cx: &mut Cx, name: &str, at: &Sp<T>) -> bool {
    if !name.is_empty() && !name.contains(['=', '\0']) {
        return true;
    }
    let diag =
        Diag::at("profile::env-name", at.span, format!("\"{name}\" is not an environment variable name"))
            .help("names are not empty and contain no `=`");
    cx.error(diag);
    false
}

fn user_ids(cx: &mut Cx, ids: &Sp<raw::UserIds>) -> Option<User> {
    let Some(uid) = &ids.value.uid else {
        cx.error(
            Diag::at("profile::user", ids.span, "`user` table needs `uid`")
                .help("write user = { uid = 1000, gid = 1000 }"),
        );
        return None;
    };
    Some(User::Ids {
        uid: uid.value,
        gid: ids.value.gid.as_ref().map_or(uid.value, |g| g.value),
        groups: ids.value.groups.iter().map(|g| g.value).collect(),
    })
}
