//! The house rules of `src/`, checked by reading the source itself.
//!
//! Every `crate::<module>` path (in `use` lines, `use crate::{a, b::c}` groups spanning several
//! lines, and inline paths) is an arrow from the file's top-level module to `<module>`. Arrows may
//! only point to the same layer or a lower one (the table below is the coordinator's layer order),
//! the top-level modules may not form a cycle, and neither may the modules inside `src/sim/`.
//! Comments and string literals are blanked before reading, so documentation never counts.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer order, lowest first. A module may import from its own layer or any lower one.
const LAYERS: &[(&str, u8)] = &[
    ("timefmt", 1),
    ("fastmap", 1),
    ("secret", 1),
    ("ami", 2),
    ("model", 3),
    ("state", 4),
    ("delivery", 5),
    ("config", 6),
    ("metrics", 6),
    ("logging", 6),
    ("supervision", 6),
    ("store", 7),
    ("sim", 8),
    ("actors", 9),
    ("cluster", 10),
    ("ws", 11),
    ("http", 12),
    ("start_error", 13),
    ("app", 13),
    ("doctor", 13),
    ("parse", 13),
    ("cli", 13),
    ("commands", 13),
    ("main", 13),
];

const MAX_LINES: usize = 500;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn layer_of(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
}

/// Every file under `dir` whose name ends with one of `extensions` (all files when empty).
fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Build output of the fuzz crate is not part of the repository.
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                pending.push(path);
            } else if extensions.is_empty()
                || extensions
                    .iter()
                    .any(|ext| path.extension().is_some_and(|e| e == *ext))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn src_files() -> Vec<PathBuf> {
    let files = files_under(&root().join("src"), &["rs"]);
    assert!(
        files.len() > 20,
        "expected the whole of src/, found {} files",
        files.len()
    );
    files
}

/// `src/foo.rs` and `src/foo/**` belong to `foo`; `lib.rs` is the root and belongs to none.
fn top_module(relative: &Path) -> Option<String> {
    let mut parts = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy());
    let first = parts.next()?;
    if parts.next().is_some() {
        return Some(first.into_owned());
    }
    let stem = first.strip_suffix(".rs")?;
    (stem != "lib").then(|| stem.to_string())
}

/// The source with comments and the contents of string and char literals replaced by spaces,
/// keeping every newline so positions still map to the same line numbers.
fn blank_comments_and_strings(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && is_raw_start(&chars, i) {
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            // chars[j] is the opening quote.
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            let end = char_literal_end(&chars, i);
            out.extend(std::iter::repeat_n(' ', end - i));
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `r"…"` or `r#"…"#` (also `br"…"`), not an identifier ending in `r`.
fn is_raw_start(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|p| chars[p]);
    let ident_before = before.is_some_and(|b| b.is_alphanumeric() || b == '_');
    let byte_prefix = before == Some('b')
        && i.checked_sub(2)
            .map(|p| chars[p])
            .is_none_or(|b| !(b.is_alphanumeric() || b == '_'));
    if ident_before && !byte_prefix {
        return false;
    }
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// A char literal (`'a'`, `'\n'`, `'\u{1F}'`) as opposed to a lifetime (`'a`).
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

fn char_literal_end(chars: &[char], i: usize) -> usize {
    let mut j = i + 1;
    if chars.get(j) == Some(&'\\') {
        j += 2;
    } else {
        j += 1;
    }
    while j < chars.len() && chars[j] != '\'' {
        j += 1;
    }
    j + 1
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// One `crate::…` path: the first segment after `crate::` and the one after it (if any).
#[derive(Debug, Clone)]
struct CratePath {
    line: usize,
    first: String,
    second: Option<String>,
}

fn read_ident(chars: &[char], mut i: usize) -> (String, usize) {
    let start = i;
    while i < chars.len() && is_ident_char(chars[i]) {
        i += 1;
    }
    (chars[start..i].iter().collect(), i)
}

fn skip_ws(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

fn line_at(chars: &[char], i: usize) -> usize {
    chars[..i].iter().filter(|c| **c == '\n').count() + 1
}

/// Reads the use-tree that starts at `i` (just after `crate::`), pushing one path per leaf head.
/// `prefix` holds the segments already read above this tree level.
fn read_tree(chars: &[char], i: usize, prefix: &[String], out: &mut Vec<CratePath>) -> usize {
    let mut i = skip_ws(chars, i);
    if chars.get(i) == Some(&'{') {
        i += 1;
        loop {
            i = skip_ws(chars, i);
            match chars.get(i) {
                Some('}') => return i + 1,
                Some(',') => i += 1,
                None => return i,
                _ => {
                    let before = i;
                    i = read_tree(chars, i, prefix, out);
                    if i == before {
                        i += 1;
                    }
                }
            }
        }
    }
    let start = i;
    let (ident, after) = read_ident(chars, i);
    if ident.is_empty() {
        return i;
    }
    let mut segments = prefix.to_vec();
    segments.push(ident);
    let mut j = skip_ws(chars, after);
    if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
        j = skip_ws(chars, j + 2);
        if chars.get(j) == Some(&'{') || is_ident_char(chars.get(j).copied().unwrap_or(' ')) {
            return read_tree(chars, j, &segments, out);
        }
        // A glob (`crate::x::*`) or turbofish (`crate::x::f::<T>`) ends the path here.
        out.push(CratePath {
            line: line_at(chars, start),
            first: segments[0].clone(),
            second: segments.get(1).cloned(),
        });
        return j;
    }
    out.push(CratePath {
        line: line_at(chars, start),
        first: segments[0].clone(),
        second: segments.get(1).cloned(),
    });
    after
}

/// Every `crate::…` path in a blanked source, one entry per leaf of a use-group.
fn crate_paths(blanked: &str) -> Vec<CratePath> {
    let chars: Vec<char> = blanked.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 7 <= chars.len() {
        let is_start = chars[i..i + 7].iter().collect::<String>() == "crate::";
        let boundary = i == 0 || !(is_ident_char(chars[i - 1]) || chars[i - 1] == '$');
        if is_start && boundary {
            let mut found = Vec::new();
            let end = read_tree(&chars, i + 7, &[], &mut found);
            // A one-segment path's leaf is the module itself (`crate::ami::X` has first `ami`).
            out.extend(found);
            i = end.max(i + 7);
        } else {
            i += 1;
        }
    }
    out
}

/// The `src/sim` module a `super::…` path reaches, for files directly in `src/sim/`.
/// Inline `mod name { … }` blocks add a level, so `super::super::X` from a test module inside
/// `sim/generator.rs` reaches `sim` itself.
fn sim_super_paths(blanked: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = blanked.chars().collect();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut inline_mod_depths: Vec<usize> = Vec::new();
    let mut pending_mod = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            depth += 1;
            if pending_mod {
                inline_mod_depths.push(depth);
                pending_mod = false;
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline_mod_depths.last() == Some(&depth) {
                inline_mod_depths.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_mod = false;
        }
        let boundary = i == 0 || !is_ident_char(chars[i - 1]) && chars[i - 1] != ':';
        if !boundary || !is_ident_char(c) {
            i += 1;
            continue;
        }
        let (word, after) = read_ident(&chars, i);
        if word == "mod" {
            pending_mod = true;
            i = after;
            continue;
        }
        if word != "super" {
            i = after;
            continue;
        }
        let line = line_at(&chars, i);
        let mut supers = 0;
        let mut j = i;
        let mut next = String::new();
        loop {
            let (segment, end) = read_ident(&chars, j);
            if segment == "super"
                && chars.get(end) == Some(&':')
                && chars.get(end + 1) == Some(&':')
            {
                supers += 1;
                j = end + 2;
                continue;
            }
            if chars.get(j) == Some(&'{') {
                // `use super::{a, b}`: read each head.
                let mut found = Vec::new();
                let end = read_tree(&chars, j, &[], &mut found);
                if supers == inline_mod_depths.len() + 1 {
                    out.extend(found.into_iter().map(|p| (p.line, p.first)));
                }
                j = end;
                next.clear();
                break;
            }
            next = segment;
            j = end.max(j + 1);
            break;
        }
        if supers == inline_mod_depths.len() + 1 && !next.is_empty() {
            out.push((line, next));
        }
        i = j;
    }
    out
}

/// An arrow `from → to`, with where it was first seen.
type Edges = BTreeMap<(String, String), Vec<String>>;

/// Finds one cycle in the graph, as the list of edges around it.
fn find_cycle(edges: &Edges) -> Option<Vec<(String, String)>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().push(to);
        graph.entry(to).or_default();
    }
    // 0 = unseen, 1 = on the stack, 2 = done.
    let mut mark: BTreeMap<&str, u8> = graph.keys().map(|k| (*k, 0)).collect();
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        mark: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<(String, String)>> {
        mark.insert(node, 1);
        stack.push(node);
        for next in &graph[node] {
            match mark[next] {
                1 => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut path: Vec<&str> = stack[start..].to_vec();
                    path.push(next);
                    return Some(
                        path.windows(2)
                            .map(|w| (w[0].to_string(), w[1].to_string()))
                            .collect(),
                    );
                }
                0 => {
                    if let Some(cycle) = visit(next, graph, mark, stack) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        mark.insert(node, 2);
        None
    }
    let nodes: Vec<&str> = graph.keys().copied().collect();
    for node in nodes {
        if mark[node] == 0 {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, &graph, &mut mark, &mut stack) {
                return Some(cycle);
            }
        }
    }
    None
}

fn describe_cycle(cycle: &[(String, String)], edges: &Edges) -> String {
    cycle
        .iter()
        .map(|(from, to)| {
            let seen = &edges[&(from.clone(), to.clone())];
            format!("  {from} -> {to} (e.g. {})", seen[0])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Arrows between top-level modules of src/, each with every `file:line` that draws it.
fn top_level_arrows() -> (Edges, Vec<String>) {
    let root = root();
    let mut edges = Edges::new();
    let mut unknown = Vec::new();
    for file in src_files() {
        let relative = file.strip_prefix(root.join("src")).unwrap_or(&file);
        let Some(from) = top_module(relative) else {
            continue;
        };
        let shown = format!("src/{}", relative.display());
        if layer_of(&from).is_none() {
            unknown.push(format!(
                "{shown}: module `{from}` is not in the layer table"
            ));
        }
        let source = fs::read_to_string(&file).unwrap_or_default();
        for path in crate_paths(&blank_comments_and_strings(&source)) {
            if path.first == from || path.first == "self" || path.first == "super" {
                continue;
            }
            edges
                .entry((from.clone(), path.first.clone()))
                .or_default()
                .push(format!("{shown}:{}", path.line));
        }
    }
    (edges, unknown)
}

#[test]
fn arrows_point_down_the_layers() {
    let (edges, mut problems) = top_level_arrows();
    assert!(
        edges.contains_key(&("http".to_string(), "store".to_string())),
        "the reader must see http's arrow to store; saw {:?}",
        edges.keys().collect::<Vec<_>>()
    );
    for ((from, to), seen) in &edges {
        let mut seen = seen.clone();
        seen.dedup();
        let seen = &seen;
        let (Some(from_layer), Some(to_layer)) = (layer_of(from), layer_of(to)) else {
            if layer_of(to).is_none() {
                problems.push(format!("{}: `{to}` is not in the layer table", seen[0]));
            }
            continue;
        };
        if to_layer > from_layer {
            for place in seen {
                problems.push(format!(
                    "{place}: `{from}` (layer {from_layer}) points up to `{to}` (layer {to_layer})"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} arrow(s) point up:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn top_level_modules_form_no_cycle() {
    let (edges, _) = top_level_arrows();
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "top-level modules form a cycle:\n{}",
            describe_cycle(&cycle, &edges)
        );
    }
}

#[test]
fn sim_modules_form_a_tree() {
    let root = root();
    let sim_dir = root.join("src").join("sim");
    let modules: BTreeSet<String> = files_under(&sim_dir, &["rs"])
        .iter()
        .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    assert!(
        modules.len() > 5,
        "expected the simulator's modules, found {modules:?}"
    );
    let mut edges = Edges::new();
    for file in files_under(&sim_dir, &["rs"]) {
        let Some(from) = file.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let shown = format!("src/sim/{from}.rs");
        let blanked = blank_comments_and_strings(&fs::read_to_string(&file).unwrap_or_default());
        let mut targets: Vec<(usize, String)> = crate_paths(&blanked)
            .into_iter()
            .filter(|p| p.first == "sim")
            .map(|p| (p.line, p.second.unwrap_or_else(|| "mod".to_string())))
            .collect();
        if from == "mod" {
            // In mod.rs, child modules are named directly (`pub use handle::X`, `self::x`).
            for path in crate_paths(&blanked.replace("self::", "crate::sim::")) {
                if path.first == "sim" {
                    targets.push((path.line, path.second.unwrap_or_default()));
                }
            }
            for (number, line) in blanked.lines().enumerate() {
                let trimmed = line.trim_start();
                let rest = trimmed
                    .strip_prefix("pub use ")
                    .or_else(|| trimmed.strip_prefix("use "));
                if let Some(rest) = rest {
                    let (head, _) = read_ident(&rest.chars().collect::<Vec<_>>(), 0);
                    targets.push((number + 1, head));
                }
            }
        } else {
            targets.extend(sim_super_paths(&blanked));
        }
        for (line, to) in targets {
            // `super::Item` where Item lives in mod.rs itself reaches `mod`.
            let to = if modules.contains(&to) {
                to
            } else {
                "mod".to_string()
            };
            if to != from {
                edges
                    .entry((from.clone(), to))
                    .or_default()
                    .push(format!("{shown}:{line}"));
            }
        }
    }
    assert!(
        edges.keys().any(|(from, _)| from != "mod"),
        "the reader must see the simulator's inner arrows"
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "the modules in src/sim/ form a cycle:\n{}",
            describe_cycle(&cycle, &edges)
        );
    }
}

#[test]
fn no_file_in_src_is_over_500_lines() {
    let root = root();
    let mut long: Vec<String> = src_files()
        .into_iter()
        .filter_map(|file| {
            let lines = fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .count();
            let shown = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            (lines > MAX_LINES).then(|| format!("{shown}: {lines} lines"))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "files in src/ over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = root();
    // Built at run time so this file does not match its own patterns.
    let patterns = [format!("{}/shared", ".."), format!("/{}/", "work")];
    let mut files = Vec::new();
    for dir in ["src", "tests", "static", "docs"] {
        files.extend(files_under(&root.join(dir), &[]));
    }
    files.push(root.join("README.md"));
    assert!(
        files.len() > 50,
        "expected the repository's files, found {}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let Ok(bytes) = fs::read(file) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (number, line) in text.lines().enumerate() {
            for pattern in &patterns {
                if line.contains(pattern.as_str()) {
                    let shown = file
                        .strip_prefix(&root)
                        .unwrap_or(file)
                        .display()
                        .to_string();
                    found.push(format!("{shown}:{}: `{pattern}`", number + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "paths outside the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_reader_sees_groups_multiline_uses_and_ignores_comments() {
    let source = "//! see crate::cli::Args\n\
        use crate::{\n    ami::X,\n    model::{Call, Extension},\n};\n\
        /* crate::ws::Y */ let s = \"crate::http::Z\";\n\
        fn f() { crate::store::ops::append(); }\n";
    let paths = crate_paths(&blank_comments_and_strings(source));
    let seen: Vec<(usize, &str)> = paths.iter().map(|p| (p.line, p.first.as_str())).collect();
    assert_eq!(
        seen,
        vec![(3, "ami"), (4, "model"), (4, "model"), (7, "store")]
    );
    let inner = "use super::model::Pbx;\nmod tests {\n    use super::super::SimConfig;\n    use super::*;\n}\n";
    let supers = sim_super_paths(&blank_comments_and_strings(inner));
    assert_eq!(
        supers,
        vec![(1, "model".to_string()), (3, "SimConfig".to_string())]
    );
}
