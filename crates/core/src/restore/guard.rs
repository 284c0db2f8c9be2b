//! A backup is data, never code: the guard between a plain SQL backup and
//! `psql`.
//!
//! psql reads more than SQL. A backslash outside quotes, comments and COPY
//! data starts a meta-command wherever it stands, not only at the start of
//! a line (`SELECT 1; \! cmd` runs `cmd`): `\!` runs a shell, `\connect`
//! writes into another database, `\o` and `\copy` write files. Anyone who
//! can write into a synced folder could plant one. [`Scanner`] lexes the
//! stream as psql does — single, `E''` and double quotes, dollar quotes,
//! `--` and nested `/* */` comments, statement ends as psql finds them
//! (parentheses, `BEGIN ATOMIC` bodies) and the data of `COPY … FROM
//! stdin` up to its `\.` line — and refuses the first backslash command,
//! naming its line, before any of its bytes reach psql. pg_dump's own
//! `\restrict KEY` / `\unrestrict KEY` pair is the one exception: it is
//! dropped from the stream, and the restore wraps the stream in its own
//! `\restrict` with a random key where the client has it (PostgreSQL
//! 13.22, 14.19, 15.14, 16.10, 17.6, 18 and newer), so psql itself then
//! refuses any command the scanner might read differently.
//!
//! Where psql's reading depends on something outside the file, the scanner
//! takes the careful side:
//! - a quoted string with an odd run of backslashes before a quote reads
//!   differently when `standard_conforming_strings` is off (which the file
//!   itself can switch); [`Scanner::ambiguous_line`] reports it, and a
//!   client without `\restrict` refuses the file ([`Scanner::new`] with
//!   `strict`);
//! - a bare `:NAME` of a variable psql sets itself (`:DBNAME`, `:USER`, …)
//!   is pasted into the stream and read again, so it could open or close a
//!   quote: refused like a command.
//!
//! Cost: COPY data, nearly all of a dump, is skipped line by line with
//! `memchr`; only the SQL around it is looked at byte by byte.

use std::io::{self, Write};

/// Why the guard stopped a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// 1-based line of the file.
    pub line: u64,
    /// What was found, as the user would see it (`\!`, `:DBNAME`, ...).
    pub what: String,
    /// What it is.
    pub kind: RefusalKind,
}

/// What a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// A backslash (meta-)command.
    Command,
    /// A psql variable that psql would paste into the stream.
    Variable,
    /// A string ending in a backslash, read differently by psql versions.
    AmbiguousString,
}

impl Refusal {
    /// One sentence for the user (without the file name).
    pub(crate) fn sentence(&self) -> String {
        match self.kind {
            RefusalKind::Command => format!("line {}: the psql command {} is not allowed in a backup; nothing was changed", self.line, self.what),
            RefusalKind::Variable => {
                format!("line {}: the psql variable {} is not allowed in a backup (psql would paste it into the SQL); nothing was changed", self.line, self.what)
            }
            RefusalKind::AmbiguousString => format!(
                "line {}: a quoted string ends in a backslash, which this psql could read as the start of a command; nothing was changed. Install PostgreSQL client tools 15.14, 16.10, 17.6 or newer (they restrict commands), then restore again",
                self.line
            ),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sentence())
    }
}

impl std::error::Error for Refusal {}

/// The refusal inside an I/O error from [`MetaGuard`], if that is what it is.
pub(crate) fn refusal_of(e: &io::Error) -> Option<&Refusal> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Refusal>())
}

/// psql's own variables: their values come from outside the file.
const PSQL_VARIABLES: &[&str] = &[
    "AUTOCOMMIT",
    "COMP_KEYWORD_CASE",
    "DBNAME",
    "ECHO",
    "ECHO_HIDDEN",
    "ENCODING",
    "ERROR",
    "FETCH_COUNT",
    "HIDE_TABLEAM",
    "HIDE_TOAST_COMPRESSION",
    "HISTCONTROL",
    "HISTFILE",
    "HISTSIZE",
    "HOST",
    "IGNOREEOF",
    "LASTOID",
    "LAST_ERROR_MESSAGE",
    "LAST_ERROR_SQLSTATE",
    "ON_ERROR_ROLLBACK",
    "ON_ERROR_STOP",
    "PORT",
    "PROMPT1",
    "PROMPT2",
    "PROMPT3",
    "QUIET",
    "ROW_COUNT",
    "SERVER_VERSION_NAME",
    "SERVER_VERSION_NUM",
    "SHELL_ERROR",
    "SHELL_EXIT_CODE",
    "SHOW_ALL_RESULTS",
    "SHOW_CONTEXT",
    "SINGLELINE",
    "SINGLESTEP",
    "SQLSTATE",
    "USER",
    "VERBOSITY",
    "VERSION",
    "VERSION_NAME",
    "VERSION_NUM",
    "WATCH_INTERVAL",
];

/// Longest meta-command line kept to judge it (`\restrict` + a key).
const META_MAX: usize = 256;

/// Where the lexer is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// SQL text.
    Sql,
    /// `-- …` up to the end of the line.
    LineComment,
    /// `/* … */`, nested; `prev` is an unpaired `/` or `*` just seen.
    BlockComment { depth: u32, prev: u8 },
    /// `'…'`; `escapes`: an `E''` string (backslash escapes the next byte).
    Quote { escapes: bool, after_quote: bool, odd_backslashes: bool, escape_next: bool },
    /// `"…"`.
    Ident { after_quote: bool },
    /// Just after a `$` that may open a dollar quote: the tag so far.
    DollarOpen { tag: Vec<u8> },
    /// Inside `$tag$ … $tag$`; `matched` bytes of the closing delimiter seen.
    Dollar { delim: Vec<u8>, matched: usize },
    /// A backslash command being read up to its end of line.
    Meta { line: u64, buf: Vec<u8>, at_line_start: bool },
}

/// A word being read (identifier, keyword or number).
#[derive(Debug, Clone, Default)]
struct Word {
    active: bool,
    /// Began with a digit and has not turned into an identifier.
    number: bool,
    /// Lower-cased first bytes.
    text: [u8; 12],
    len: usize,
    /// Began where a token surely begins (for `E'…'`).
    clean_start: bool,
}

/// The statement psql is collecting, as far as its lexer tracks it.
#[derive(Debug, Clone, Default)]
struct Statement {
    paren_depth: u32,
    begin_depth: u32,
    identifier_count: u32,
    identifiers: [u8; 4],
    copy: bool,
    prev_from: bool,
    from_stdin: bool,
}

/// Where the COPY data reader is in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyLine {
    /// At the start of a line.
    Start,
    /// Saw `\` at the start.
    Backslash,
    /// Saw `\.`.
    Dot,
    /// Saw `\.\r`.
    DotCr,
    /// Somewhere else in a line.
    Rest,
}

/// The lexer. Feed it the stream in any chunks; it tells which bytes may
/// pass to psql.
#[derive(Debug)]
pub(crate) struct Scanner {
    mode: Mode,
    word: Word,
    stmt: Statement,
    /// Inside COPY data.
    copy: Option<CopyLine>,
    /// A `COPY … FROM stdin;` ended on this line: data starts at the next.
    copy_pending: bool,
    /// Consecutive `:` just seen in SQL.
    colons: u32,
    /// A variable name after an odd run of colons.
    variable: Option<Vec<u8>>,
    /// The previous SQL byte (token boundaries).
    prev: u8,
    /// Lines before the current chunk.
    line: u64,
    /// At the start of a line.
    at_line_start: bool,
    /// pg_dump's `\restrict` key, while its pair is open.
    restrict_key: Option<Vec<u8>>,
    /// A string that reads differently without standard_conforming_strings.
    ambiguous: Option<u64>,
    strict: bool,
}

/// What to do with the bytes of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Pass `[from, to)`.
    Range(usize, usize),
    /// Pass one newline in place of a dropped `\restrict` line.
    Newline,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_dollar_tag(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 || (!first && b.is_ascii_digit())
}

impl Scanner {
    /// A scanner at the start of a file. `strict`: refuse strings whose
    /// reading depends on `standard_conforming_strings` (for a psql without
    /// `\restrict`).
    pub(crate) fn new(strict: bool) -> Self {
        Scanner {
            mode: Mode::Sql,
            word: Word::default(),
            stmt: Statement::default(),
            copy: None,
            copy_pending: false,
            colons: 0,
            variable: None,
            prev: b'\n',
            line: 1,
            at_line_start: true,
            restrict_key: None,
            ambiguous: None,
            strict,
        }
    }

    /// The first line holding a string whose end depends on
    /// `standard_conforming_strings`.
    pub(crate) fn ambiguous_line(&self) -> Option<u64> {
        self.ambiguous
    }

    /// Scans `chunk`, calling `pass` with the bytes psql may read, in order.
    fn scan(&mut self, chunk: &[u8], pass: &mut dyn FnMut(Pass) -> io::Result<()>) -> io::Result<()> {
        let mut from = 0usize;
        let mut i = 0usize;
        while i < chunk.len() {
            // COPY data: whole lines at a time.
            if let Some(state) = self.copy {
                i = self.copy_data(chunk, i, state);
                continue;
            }
            let b = chunk[i];
            let line_start = std::mem::replace(&mut self.at_line_start, false);
            match &mut self.mode {
                Mode::Meta { buf, .. } => {
                    if b == b'\n' || buf.len() >= META_MAX {
                        let allowed = self.end_meta(b == b'\n').map_err(io::Error::other)?;
                        debug_assert!(allowed);
                        // The dropped line keeps its newline (psql's line numbers stay).
                        pass(Pass::Newline)?;
                        self.newline();
                        i += 1;
                        from = i;
                        continue;
                    }
                    buf.push(b);
                    i += 1;
                    from = i;
                    continue;
                }
                Mode::Sql => {
                    if b == b'\\' {
                        pass(Pass::Range(from, i))?;
                        self.end_word_and_variable().map_err(io::Error::other)?;
                        self.mode = Mode::Meta { line: self.line, buf: vec![b'\\'], at_line_start: line_start };
                        i += 1;
                        from = i;
                        continue;
                    }
                    self.sql_byte(b).map_err(io::Error::other)?;
                }
                Mode::LineComment => {
                    match memchr::memchr(b'\n', &chunk[i..]) {
                        Some(n) => {
                            self.mode = Mode::Sql;
                            self.sql_byte(b'\n').map_err(io::Error::other)?;
                            i += n + 1;
                        }
                        None => i = chunk.len(),
                    }
                    continue;
                }
                Mode::BlockComment { depth, prev } => {
                    match (*prev, b) {
                        (b'/', b'*') => {
                            *depth += 1;
                            *prev = 0;
                        }
                        (b'*', b'/') => {
                            *depth -= 1;
                            *prev = 0;
                            if *depth == 0 {
                                self.mode = Mode::Sql;
                                self.prev = b' ';
                            }
                        }
                        (_, b'/' | b'*') => *prev = b,
                        _ => *prev = 0,
                    }
                    if b == b'\n' {
                        self.newline();
                    }
                }
                Mode::Quote { escapes, after_quote, odd_backslashes, escape_next } => {
                    if *after_quote {
                        if b == b'\'' {
                            // `''`: a quote inside the string.
                            *after_quote = false;
                            *odd_backslashes = false;
                        } else {
                            self.mode = Mode::Sql;
                            self.prev = b'\'';
                            continue; // this byte is SQL again
                        }
                    } else if *escape_next {
                        *escape_next = false;
                    } else if b == b'\\' {
                        *odd_backslashes = !*odd_backslashes;
                        if *escapes {
                            *escape_next = true;
                            *odd_backslashes = false;
                        }
                    } else if b == b'\'' {
                        if *odd_backslashes {
                            // `\'`: the end of the string for a standard-conforming
                            // reading, an escaped quote for the other.
                            let line = self.line;
                            self.ambiguous.get_or_insert(line);
                            if self.strict {
                                return Err(io::Error::other(Refusal { line, what: "\\'".into(), kind: RefusalKind::AmbiguousString }));
                            }
                        }
                        *after_quote = true;
                        *odd_backslashes = false;
                    } else {
                        *odd_backslashes = false;
                    }
                    if b == b'\n' {
                        self.newline();
                    }
                }
                Mode::Ident { after_quote } => {
                    if *after_quote {
                        if b == b'"' {
                            *after_quote = false;
                        } else {
                            self.mode = Mode::Sql;
                            self.prev = b'"';
                            continue;
                        }
                    } else if b == b'"' {
                        *after_quote = true;
                    }
                    if b == b'\n' {
                        self.newline();
                    }
                }
                Mode::DollarOpen { tag } => {
                    if b == b'$' {
                        let mut delim = Vec::with_capacity(tag.len() + 2);
                        delim.push(b'$');
                        delim.extend_from_slice(tag);
                        delim.push(b'$');
                        self.mode = Mode::Dollar { delim, matched: 0 };
                    } else if is_dollar_tag(b, tag.is_empty()) {
                        tag.push(b);
                    } else {
                        // Not a dollar quote (`$1`, a lone `$`): the tag was a word.
                        let tag = std::mem::take(tag);
                        self.mode = Mode::Sql;
                        self.prev = b'$';
                        for t in tag {
                            self.sql_byte(t).map_err(io::Error::other)?;
                        }
                        continue;
                    }
                }
                Mode::Dollar { delim, matched } => {
                    if b == delim[*matched] {
                        *matched += 1;
                        if *matched == delim.len() {
                            self.mode = Mode::Sql;
                            self.prev = b'$';
                        }
                    } else {
                        *matched = usize::from(b == b'$');
                    }
                    if b == b'\n' {
                        self.newline();
                    }
                }
            }
            i += 1;
        }
        if from < chunk.len() {
            pass(Pass::Range(from, chunk.len()))?;
        }
        Ok(())
    }

    /// One byte of SQL text (not a backslash).
    fn sql_byte(&mut self, b: u8) -> Result<(), Refusal> {
        // Words: identifiers, keywords, numbers.
        if self.word.active {
            let w = &mut self.word;
            let cont = if w.number { b.is_ascii_digit() || b == b'_' || b == b'.' || b.is_ascii_alphabetic() || (b >= 0x80) } else { is_ident_cont(b) };
            if cont {
                if w.number && (b.is_ascii_alphabetic() || b >= 0x80) {
                    w.number = false; // trailing letters: psql reads the rest as an identifier
                }
                if w.len < w.text.len() {
                    w.text[w.len] = b.to_ascii_lowercase();
                }
                w.len += 1;
                self.prev = b;
                return Ok(());
            }
            let e_prefix = !w.number && w.len == 1 && w.text[0] == b'e' && w.clean_start;
            self.end_word();
            if b == b'\'' && e_prefix {
                self.mode = Mode::Quote { escapes: true, after_quote: false, odd_backslashes: false, escape_next: false };
                self.prev = b;
                return Ok(());
            }
        } else if self.variable.is_some() {
            if is_ident_cont(b) && b != b'$' {
                self.variable.as_mut().expect("checked").push(b);
                self.prev = b;
                return Ok(());
            }
            self.end_variable()?;
        }
        if b == b':' {
            self.colons += 1;
            self.prev = b;
            return Ok(());
        }
        let colons = std::mem::take(&mut self.colons);
        if colons % 2 == 1 && (is_ident_start(b) || b.is_ascii_digit()) {
            // `:name` (an odd colon: `::` pairs are casts).
            self.variable = Some(vec![b]);
            self.prev = b;
            return Ok(());
        }
        match b {
            b'\'' => self.mode = Mode::Quote { escapes: false, after_quote: false, odd_backslashes: false, escape_next: false },
            b'"' => self.mode = Mode::Ident { after_quote: false },
            b'$' => self.mode = Mode::DollarOpen { tag: Vec::new() },
            b'-' if self.prev == b'-' => {
                self.mode = Mode::LineComment;
                self.prev = b' ';
                return Ok(());
            }
            b'*' if self.prev == b'/' => {
                self.mode = Mode::BlockComment { depth: 1, prev: 0 };
                self.prev = b' ';
                return Ok(());
            }
            b'(' => self.stmt.paren_depth += 1,
            b')' => self.stmt.paren_depth = self.stmt.paren_depth.saturating_sub(1),
            b';' if self.stmt.paren_depth == 0 && self.stmt.begin_depth == 0 => {
                if self.stmt.copy && self.stmt.from_stdin {
                    self.copy_pending = true;
                }
                self.stmt = Statement::default();
            }
            b'\n' => {
                self.newline();
                if std::mem::take(&mut self.copy_pending) {
                    self.copy = Some(CopyLine::Start);
                }
            }
            _ if is_ident_start(b) || b.is_ascii_digit() => {
                let clean_start = matches!(self.prev, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'(' | b')' | b',' | b';' | b'=');
                self.word = Word { active: true, number: b.is_ascii_digit(), text: [0; 12], len: 1, clean_start };
                self.word.text[0] = b.to_ascii_lowercase();
            }
            _ => {}
        }
        // `--` and `/*` need the previous byte; a consumed pair resets it.
        self.prev = b;
        Ok(())
    }

    fn end_word_and_variable(&mut self) -> Result<(), Refusal> {
        if self.word.active {
            self.end_word();
        }
        if self.variable.is_some() {
            self.end_variable()?;
        }
        self.colons = 0;
        Ok(())
    }

    fn end_variable(&mut self) -> Result<(), Refusal> {
        let Some(name) = self.variable.take() else { return Ok(()) };
        let name = String::from_utf8_lossy(&name).into_owned();
        if PSQL_VARIABLES.contains(&name.as_str()) {
            return Err(Refusal { line: self.line, what: format!(":{name}"), kind: RefusalKind::Variable });
        }
        Ok(())
    }

    /// A finished identifier: psql's statement tracking (COPY, `BEGIN ATOMIC`).
    fn end_word(&mut self) {
        let w = std::mem::take(&mut self.word);
        if w.number {
            return;
        }
        let text = &w.text[..w.len.min(w.text.len())];
        let word = if w.len <= w.text.len() { text } else { b"" as &[u8] };
        let s = &mut self.stmt;
        if s.identifier_count == 0 {
            s.identifiers = [0; 4];
            s.copy = word == b"copy";
        }
        // psql's heuristic for CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN … END.
        if matches!(word, b"create" | b"function" | b"procedure" | b"or" | b"replace")
            && let Some(slot) = s.identifiers.get_mut(s.identifier_count as usize)
        {
            *slot = word[0];
        }
        s.identifier_count = s.identifier_count.saturating_add(1);
        let id = s.identifiers;
        if id[0] == b'c' && (id[1] == b'f' || id[1] == b'p' || (id[1] == b'o' && id[2] == b'r' && (id[3] == b'f' || id[3] == b'p'))) && s.paren_depth == 0 {
            match word {
                b"begin" => s.begin_depth += 1,
                b"case" if s.begin_depth >= 1 => s.begin_depth += 1,
                b"end" if s.begin_depth > 0 => s.begin_depth -= 1,
                _ => {}
            }
        }
        if s.copy {
            if s.prev_from && word == b"stdin" {
                s.from_stdin = true;
            }
            s.prev_from = word == b"from";
        }
    }

    fn newline(&mut self) {
        self.line += 1;
        self.at_line_start = true;
    }

    /// Judges a finished backslash line: pg_dump's `\restrict` pair passes
    /// (dropped), anything else is refused.
    fn end_meta(&mut self, complete: bool) -> Result<bool, Refusal> {
        let Mode::Meta { line, buf, at_line_start } = std::mem::replace(&mut self.mode, Mode::Sql) else { return Ok(false) };
        let text = buf.strip_suffix(b"\r").unwrap_or(&buf);
        let name_len = text[1..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count().max(1);
        let name = String::from_utf8_lossy(&text[..(1 + name_len).min(text.len())]).into_owned();
        let refuse = Refusal { line, what: name.clone(), kind: RefusalKind::Command };
        if !complete || !at_line_start {
            return Err(refuse);
        }
        let key = |prefix: &[u8]| {
            text.strip_prefix(prefix).filter(|k| !k.is_empty() && k.len() <= 128 && k.iter().all(u8::is_ascii_alphanumeric)).map(<[u8]>::to_vec)
        };
        if let Some(k) = key(b"\\restrict ")
            && self.restrict_key.is_none()
        {
            self.restrict_key = Some(k);
            return Ok(true);
        }
        if let Some(k) = key(b"\\unrestrict ")
            && self.restrict_key.as_deref() == Some(k.as_slice())
        {
            self.restrict_key = None;
            return Ok(true);
        }
        Err(refuse)
    }

    /// COPY data from `i`; returns where SQL (or the next chunk) starts.
    fn copy_data(&mut self, chunk: &[u8], mut i: usize, mut state: CopyLine) -> usize {
        while i < chunk.len() {
            let b = chunk[i];
            state = match (state, b) {
                (CopyLine::Start, b'\\') => CopyLine::Backslash,
                (CopyLine::Backslash, b'.') => CopyLine::Dot,
                (CopyLine::Dot, b'\r') => CopyLine::DotCr,
                (CopyLine::Dot | CopyLine::DotCr, b'\n') => {
                    // `\.` alone on its line ends the data.
                    self.copy = None;
                    self.newline();
                    self.prev = b'\n';
                    return i + 1;
                }
                (_, b'\n') => {
                    self.newline();
                    CopyLine::Start
                }
                _ => {
                    // Skip to the end of the line.
                    match memchr::memchr(b'\n', &chunk[i..]) {
                        Some(n) => i += n,
                        None => i = chunk.len(),
                    }
                    state = CopyLine::Rest;
                    continue;
                }
            };
            i += 1;
        }
        self.copy = Some(state);
        i
    }

    /// The end of the stream: a command on the last line without a newline
    /// is judged too.
    fn finish(&mut self) -> Result<(), Refusal> {
        if matches!(self.mode, Mode::Meta { .. }) {
            self.end_meta(true)?;
        }
        self.end_word_and_variable()
    }
}

/// A writer that passes a plain SQL stream on to `inner` (psql's stdin),
/// minus pg_dump's `\restrict` pair, and fails with a [`Refusal`] (see
/// [`refusal_of`]) at the first thing psql would run that is not SQL;
/// nothing of that line reaches `inner`.
pub(crate) struct MetaGuard<W: Write> {
    inner: W,
    scanner: Scanner,
    refused: Option<Refusal>,
}

impl<W: Write> MetaGuard<W> {
    /// Guards `inner`; `strict` as in [`Scanner::new`].
    pub(crate) fn new(inner: W, strict: bool) -> Self {
        Self { inner, scanner: Scanner::new(strict), refused: None }
    }

    /// Call at the end of the stream: judges a last line without a newline.
    ///
    /// # Errors
    /// The refusal, if any.
    pub(crate) fn finish(&mut self) -> Result<(), Refusal> {
        if let Some(r) = &self.refused {
            return Err(r.clone());
        }
        self.scanner.finish()
    }

    /// The scanner (for [`Scanner::ambiguous_line`]).
    pub(crate) fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// The inner writer.
    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for MetaGuard<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(r) = &self.refused {
            return Err(io::Error::other(r.clone()));
        }
        let inner = &mut self.inner;
        let result = self.scanner.scan(buf, &mut |p| match p {
            Pass::Range(a, b) if a < b => inner.write_all(&buf[a..b]),
            Pass::Range(..) => Ok(()),
            Pass::Newline => inner.write_all(b"\n"),
        });
        match result {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                if let Some(r) = refusal_of(&e) {
                    self.refused = Some(r.clone());
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether psql `version` (`psql --version` output) has `\restrict`
/// (the August 2025 minor releases and every later one).
pub(crate) fn psql_has_restrict(version_output: &str) -> bool {
    let Some(v) = version_output.split_whitespace().find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit())) else { return false };
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    match major {
        0..=12 => false,
        13 => minor >= 22,
        14 => minor >= 19,
        15 => minor >= 14,
        16 => minor >= 10,
        17 => minor >= 6,
        _ => !v.contains("devel") || major > 18,
    }
}

/// A fresh random key for Nightjar's own `\restrict` (letters and digits).
pub(crate) fn restrict_key() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    Ok(bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What psql would read, or the refusal; fed in chunks of `step` bytes.
    fn run(input: &str, step: usize, strict: bool) -> Result<String, Refusal> {
        let mut g = MetaGuard::new(Vec::new(), strict);
        for c in input.as_bytes().chunks(step.max(1)) {
            if let Err(e) = g.write_all(c) {
                return Err(refusal_of(&e).cloned().expect("a refusal"));
            }
        }
        g.finish()?;
        Ok(String::from_utf8(g.inner).unwrap())
    }

    fn all_steps(input: &str) -> Result<String, Refusal> {
        let whole = run(input, input.len(), false);
        for step in [1, 2, 3, 7, 64] {
            assert_eq!(run(input, step, false), whole, "chunks of {step} give the same verdict for {input:?}");
        }
        whole
    }

    fn refused(input: &str) -> Refusal {
        all_steps(input).expect_err(input)
    }

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abcDEF123\n\nSET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\n\nCREATE FUNCTION public.f() RETURNS text\n    LANGUAGE plpgsql\n    AS $_$\nBEGIN RETURN 'a\\b'; -- \\! not here\nEND $_$;\n\nCREATE TABLE public.t (id integer, \"we\"\"ird\\\" text, v text DEFAULT 'C:\\path');\nCOMMENT ON TABLE public.t IS 'it''s /* not */ a \\comment';\n/* block /* nested \\! */ still \\q */\nCOPY public.t (id, \"we\"\"ird\\\", v) FROM stdin;\n1\t\\N\tx\\ty\n2\t\\\\\t\\.x\n\\.\nSELECT (t.a)[1:n]::text, '{}'::int[] FROM public.t;\nCREATE FUNCTION public.g() RETURNS integer LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n SELECT 2;\nEND;\nSELECT $1, $$x\\y$$, $a$ $b$ \\ $a$, e'\\'\\\\' FROM x$y$z;\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abcDEF123\n\n";

    #[test]
    fn a_pg_dump_script_passes_without_its_restrict_lines() {
        let out = all_steps(DUMP).unwrap();
        assert!(!out.contains("\\restrict") && !out.contains("\\unrestrict"), "{out}");
        assert_eq!(out.lines().count(), DUMP.lines().count(), "the dropped lines keep their newlines");
        assert!(out.contains("1\t\\N\tx\\ty\n2\t\\\\\t\\.x\n\\.\n"), "COPY data passes untouched");
        let s = {
            let mut g = MetaGuard::new(Vec::new(), false);
            g.write_all(DUMP.as_bytes()).unwrap();
            g.finish().unwrap();
            g.scanner.ambiguous_line()
        };
        assert_eq!(s, None);
    }

    #[test]
    fn a_command_anywhere_outside_quotes_is_refused_with_its_line() {
        let r = refused("SET x = 1;\n\\! touch /tmp/x\n");
        assert_eq!((r.line, r.what.as_str(), r.kind), (2, "\\!", RefusalKind::Command));
        assert_eq!(r.sentence(), "line 2: the psql command \\! is not allowed in a backup; nothing was changed");
        assert_eq!(refused("SELECT 1; \\! cmd\n").what, "\\!");
        assert_eq!(refused("SELECT 1;\n\n\\connect other\n").what, "\\connect");
        assert_eq!(refused("SELECT 1;\n\\c other").line, 2, "a last line without a newline");
        assert_eq!(refused("SELECT (1,\n\\o /tmp/f\n2);").what, "\\o");
        assert_eq!(refused("SELECT 'a' \\gexec\n").what, "\\gexec");
        assert_eq!(refused("SELECT \"x\"\\g /tmp/out\n").what, "\\g");
        assert_eq!(refused("SELECT $$a$$ \\! x\n").what, "\\!");
        assert_eq!(refused("SELECT /* c */ \\! x\n").what, "\\!");
        assert_eq!(refused("SELECT abc\\! x\n").what, "\\!");
        assert_eq!(refused("SELECT 1 \\;\n").what, "\\;");
    }

    #[test]
    fn quotes_and_comments_are_lexed_as_psql_does() {
        // The backslash inside a quote is data; after the quote it is a command.
        assert!(all_steps("SELECT 'a \\! b';\n").is_ok());
        assert_eq!(refused("SELECT 'a''' \\! b;\n").what, "\\!");
        assert!(all_steps("SELECT 'a'' \\! b';\n").is_ok());
        assert!(all_steps("SELECT \"a \\! b\";\n").is_ok());
        assert_eq!(refused("SELECT \"a\"\"\" \\! b;\n").what, "\\!");
        assert!(all_steps("-- \\! x\nSELECT 1;\n").is_ok());
        assert_eq!(refused("-- x\n\\! x\n").line, 2);
        assert!(all_steps("/* /* */ \\! */ SELECT 1;\n").is_ok());
        assert_eq!(refused("/* /* */ */ \\! x\n").what, "\\!");
        assert_eq!(refused("/*/ \\! */ x */ \\! y\n").line, 1);
        assert!(all_steps("SELECT $tag$ ' \\! $x$ $tag$;\n").is_ok());
        assert_eq!(refused("SELECT $tag$ x $tag$ \\! y\n").what, "\\!");
        // `$1` and `a$b$` open no dollar quote.
        assert_eq!(refused("SELECT $1 \\! y\n").what, "\\!");
        assert_eq!(refused("SELECT a$b$ \\! y $b$\n").what, "\\!");
        assert_eq!(refused("SELECT 1$a$ x $a$ \\! y $a$\n").what, "\\!", "a number does not swallow a dollar quote");
        // E'' strings escape quotes.
        assert!(all_steps("SELECT e'a\\' \\! b';\n").is_ok());
        assert_eq!(refused("SELECT e'a\\\\' \\! b;\n").what, "\\!");
    }

    #[test]
    fn copy_data_ends_only_at_its_own_line() {
        assert!(all_steps("COPY t (a) FROM stdin;\n\\! data\n\\.\nSELECT 1;\n").is_ok());
        assert_eq!(refused("COPY t (a) FROM stdin;\nx\n\\.\n\\! after\n").line, 4);
        assert_eq!(refused("COPY t (a) FROM stdin;\nx \\.\n\\.x\n\\.\n\\! after\n").line, 5);
        // The rest of the COPY line is SQL.
        assert_eq!(refused("COPY t FROM stdin; \\! x\n").what, "\\!");
        // Not a COPY that reads stdin: no data follows.
        assert_eq!(refused("COPY t FROM '/f';\n\\! x\n").line, 2);
        assert_eq!(refused("SELECT 'COPY t FROM stdin;'\n;\n\\! x\n").line, 3);
        // A `;` inside parentheses or a BEGIN ATOMIC body ends nothing, for psql.
        assert_eq!(refused("SELECT (1;\nCOPY t FROM stdin;\n\\! x\n").line, 3);
        assert_eq!(refused("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;\nCOPY t FROM stdin;\n\\! x\n\\.\nEND;\n").line, 3);
        assert_eq!(refused("CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC CASE WHEN true THEN 1 END;\nCOPY t FROM stdin;\n\\! x\n").line, 3);
        // CRLF data.
        assert!(all_steps("COPY t FROM stdin;\r\n\\N\r\n\\.\r\nSELECT 1;\r\n").is_ok());
    }

    #[test]
    fn only_pg_dumps_restrict_pair_passes() {
        assert_eq!(refused("\\restrict abc\n\\restrict def\n").line, 2, "a second \\restrict");
        assert_eq!(refused("\\restrict abc\n\\unrestrict xyz\n").what, "\\unrestrict", "keys differ");
        assert_eq!(refused("\\unrestrict abc\n").what, "\\unrestrict", "no \\restrict before");
        assert_eq!(refused("SELECT 1; \\restrict abc\n").what, "\\restrict", "not at the start of a line");
        assert_eq!(refused("\\restrict abc; \\! x\n").what, "\\restrict", "a key is letters and digits");
        assert!(all_steps("\\restrict abc\r\nSELECT 1;\r\n\\unrestrict abc\r\n").is_ok());
    }

    #[test]
    fn psql_variables_from_outside_the_file_are_refused() {
        let r = refused("SELECT :DBNAME;\n");
        assert_eq!((r.what.as_str(), r.kind), (":DBNAME", RefusalKind::Variable));
        assert!(all_steps("SELECT a::text, b[1:n], c:::int, ':DBNAME', \":USER\";\n").is_ok());
        assert_eq!(refused("SELECT x:::USER;\n").what, ":USER");
    }

    #[test]
    fn strings_ending_in_a_backslash_depend_on_the_client() {
        // standard_conforming_strings off would read `\'` as an escaped quote,
        // keeping `\! touch` outside the string for psql.
        let planted = "SELECT 'a\\'' \\! touch x\n';\n";
        let mut g = MetaGuard::new(Vec::new(), false);
        g.write_all(planted.as_bytes()).unwrap();
        g.finish().unwrap();
        assert_eq!(g.scanner().ambiguous_line(), Some(1));
        let r = run(planted, 4, true).unwrap_err();
        assert_eq!(r.kind, RefusalKind::AmbiguousString);
        assert!(run("SELECT '\\\\';\n", 1, true).is_ok(), "an even run is read the same either way");
        assert!(run("SELECT e'a\\'';\n", 1, true).is_ok(), "E'' strings escape either way");
    }

    #[test]
    fn restrict_support_follows_the_minor_releases() {
        for (v, yes) in [
            ("psql (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)", true),
            ("psql (PostgreSQL) 15.13", false),
            ("psql (PostgreSQL) 17.6", true),
            ("psql (PostgreSQL) 17.5", false),
            ("psql (PostgreSQL) 16.10", true),
            ("psql (PostgreSQL) 14.18", false),
            ("psql (PostgreSQL) 13.22", true),
            ("psql (PostgreSQL) 12.22", false),
            ("psql (PostgreSQL) 18.0", true),
            ("psql (PostgreSQL) 19devel", true),
            ("nonsense", false),
        ] {
            assert_eq!(psql_has_restrict(v), yes, "{v}");
        }
        let k = restrict_key().unwrap();
        assert_eq!(k.len(), 32);
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(k, restrict_key().unwrap());
    }
}
