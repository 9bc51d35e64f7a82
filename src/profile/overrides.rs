//! Values given on the command line (`run`, `explain`): `--set KEY=VALUE`
//! and its shorthands (`--memory`, `-e`, `-v`, ...). They become one more
//! source, written as TOML one override a line and merged over the profile
//! as its last file, so they are validated like the profile, a mistake is
//! shown at its line of that source, `explain` names them `command line`,
//! and a relative host path in them is relative to the current directory.

/// The overrides, in the order given; a key given again replaces its value,
/// a list key (`-v`, `-e NAME`) collects.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    lines: Vec<(String, Entry)>,
}

#[derive(Debug, Clone)]
enum Entry {
    One(String),
    List(Vec<String>),
}

/// What the source of the overrides is called in diagnostics and `explain`.
pub const LABEL: &str = "command line";

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// `--set KEY=VALUE`: VALUE is read as a TOML value (`4`, `true`,
    /// `["a", "b"]`, `"text"`), and as a string when it is not one.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--set {assignment:?}: expected KEY=VALUE, e.g. limits.memory=4GiB"))?;
        let path: Vec<&str> = key.trim().split('.').collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(format!("--set {assignment:?}: {key:?} is not a key path such as limits.memory"));
        }
        self.value(&path, value);
        Ok(())
    }

    /// A value for `path`, read as `--set` reads it.
    pub fn value(&mut self, path: &[&str], value: &str) {
        let text = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(t) if t.len() == 1 && t.contains_key("v") => render(&t["v"]),
            _ => string(value),
        };
        self.put(path, Entry::One(text));
    }

    /// A string value for `path`, whatever it looks like.
    pub fn string(&mut self, path: &[&str], value: &str) {
        self.put(path, Entry::One(string(value)));
    }

    /// `-e NAME=VALUE` sets it; `-e NAME` passes the caller's value (docker's).
    pub fn env(&mut self, item: &str) {
        match item.split_once('=') {
            Some((name, value)) => self.string(&["process", "env", name], value),
            None => self.append(&["process", "inherit_env"], string(item)),
        }
    }

    /// `-v SOURCE:TARGET[:ro|rw]`: a bind mount, read-only unless `rw`.
    pub fn mount(&mut self, spec: &str) -> Result<(), String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [s, t] => (*s, *t, "ro"),
            [s, t, m @ ("ro" | "rw")] => (*s, *t, *m),
            [_, _, m] => return Err(format!("-v {spec:?}: the mode {m:?} is not ro or rw")),
            _ => return Err(format!("-v {spec:?}: expected SOURCE:TARGET[:ro|rw]")),
        };
        if source.is_empty() || target.is_empty() {
            return Err(format!("-v {spec:?}: expected SOURCE:TARGET[:ro|rw]"));
        }
        let table = format!(
            "{{ source = {}, target = {}, mode = {} }}",
            string(source),
            string(target),
            string(mode)
        );
        self.append(&["mount"], table);
        Ok(())
    }

    /// `-p SPEC`: one more published port, appended to `network.ports`; it
    /// is checked with the profile's own (a mistake is shown at its place
    /// on the command line).
    pub fn publish(&mut self, spec: &str) {
        self.append(&["network", "ports"], string(spec));
    }

    fn append(&mut self, path: &[&str], item: String) {
        let key = key_text(path);
        if let Some((_, Entry::List(items))) = self.lines.iter_mut().find(|(k, _)| *k == key) {
            items.push(item);
        } else {
            self.put(path, Entry::List(vec![item]));
        }
    }

    fn put(&mut self, path: &[&str], entry: Entry) {
        let key = key_text(path);
        self.lines.retain(|(k, _)| *k != key);
        self.lines.push((key, entry));
    }

    /// The overrides as a TOML document, one a line.
    pub fn text(&self) -> String {
        let line = |(key, entry): &(String, Entry)| match entry {
            Entry::One(v) => format!("{key} = {v}\n"),
            Entry::List(items) => format!("{key} = [{}]\n", items.join(", ")),
        };
        self.lines.iter().map(line).collect()
    }
}

/// A dotted key, each part bare when it can be and quoted otherwise.
fn key_text(path: &[&str]) -> String {
    let part = |p: &&str| {
        if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            (*p).to_owned()
        } else {
            string(p)
        }
    };
    path.iter().map(part).collect::<Vec<_>>().join(".")
}

/// A TOML basic string: JSON's escapes are TOML's (`\"`, `\\`, `\n`, `\u00XX`).
fn string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A TOML value on one line.
fn render(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => string(s),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) if f.is_nan() => "nan".to_owned(),
        toml::Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.to_owned(),
        toml::Value::Float(f) => {
            let t = f.to_string();
            if t.contains(['.', 'e', 'E']) { t } else { format!("{t}.0") }
        }
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", ")),
        toml::Value::Table(t) => {
            let fields: Vec<String> =
                t.iter().map(|(k, v)| format!("{} = {}", key_text(&[k]), render(v))).collect();
            format!("{{ {} }}", fields.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_one_toml_line_each_and_the_last_wins() {
        let mut o = Overrides::default();
        o.set("limits.memory=1GiB").unwrap();
        o.value(&["limits", "memory"], "4GiB");
        o.value(&["limits", "cpus"], "1.5");
        o.value(&["limits", "pids"], "64");
        o.env("A.B=x\ny");
        o.env("TERM");
        o.env("LANG");
        o.mount("./src:/src:rw").unwrap();
        o.mount("/data:/data").unwrap();
        o.publish("8080:80");
        o.publish("[::1]:53:53/udp");
        o.set("process.command=[\"sh\", \"-c\", \"true\"]").unwrap();
        o.set("network.mode=not toml at all").unwrap();
        let text = o.text();
        assert_eq!(
            text,
            "limits.memory = \"4GiB\"\nlimits.cpus = 1.5\nlimits.pids = 64\n\
             process.env.\"A.B\" = \"x\\ny\"\nprocess.inherit_env = [\"TERM\", \"LANG\"]\n\
             mount = [{ source = \"./src\", target = \"/src\", mode = \"rw\" }, \
             { source = \"/data\", target = \"/data\", mode = \"ro\" }]\n\
             network.ports = [\"8080:80\", \"[::1]:53:53/udp\"]\n\
             process.command = [\"sh\", \"-c\", \"true\"]\nnetwork.mode = \"not toml at all\"\n"
        );
        let parsed: toml::Table = toml::from_str(&text).expect("valid TOML");
        assert_eq!(parsed["process"]["env"]["A.B"].as_str(), Some("x\ny"));
    }

    #[test]
    fn a_value_cannot_smuggle_a_second_line() {
        let mut o = Overrides::default();
        o.set("process.cwd=\"/x\"\nprocess.user = \"root\"").unwrap();
        let parsed: toml::Table = toml::from_str(&o.text()).expect("valid TOML");
        assert!(parsed["process"].get("user").is_none(), "{}", o.text());
        assert_eq!(o.text().lines().count(), 1);
    }

    #[test]
    fn malformed_flags_are_refused() {
        let mut o = Overrides::default();
        assert!(o.set("nokey").is_err());
        assert!(o.set("a..b=1").is_err());
        assert!(o.mount("/only").is_err());
        assert!(o.mount("/a:/b:rx").is_err());
        assert!(o.mount(":/b").is_err());
        assert!(o.is_empty());
    }
}
