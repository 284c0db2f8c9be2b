//! Small vocabulary types shared by every module: engines, formats,
//! compression, triggers and run statuses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $variant),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The identifier used in config files, file names and JSON.
            #[must_use]
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $s),+ } }
            /// The allowed identifiers, for error messages ("a, b or c").
            #[must_use]
            pub fn allowed() -> String { crate::model::join_or(Self::ALL.iter().map(|v| v.as_str())) }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($s => Ok($name::$variant),)+ _ => Err(format!("\"{s}\" is not one of {}", Self::allowed())) }
            }
        }
    };
}

/// "a, b or c".
pub(crate) fn join_or<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    match v.len() {
        0 => String::new(),
        1 => v[0].to_string(),
        n => format!("{} or {}", v[..n - 1].join(", "), v[n - 1]),
    }
}

string_enum! {
    /// The database engine of a source.
    Engine { Postgres => "postgres", Mysql => "mysql" }
}

string_enum! {
    /// The dump format. `custom` is PostgreSQL's `pg_dump -Fc` archive.
    Format { Plain => "plain", Custom => "custom" }
}

string_enum! {
    /// The outer compression applied by Nightjar's pipeline.
    Compression { Zstd => "zstd", Gzip => "gzip", None => "none" }
}

string_enum! {
    /// Why a run happened. Scheduled runs carry no suffix in the file name.
    Trigger {
        /// From the job's schedule.
        Scheduled => "scheduled",
        /// Started by a person ("Backup now", `nightjar backup`).
        Manual => "manual",
        /// A schedule slot that was missed while the computer was off or asleep.
        CatchUp => "catch-up",
        /// The safety backup taken before a restore replaces a database.
        PreRestore => "pre-restore",
    }
}

string_enum! {
    /// The state of a run in the history.
    RunStatus {
        /// Still going (or the process died; see `Interrupted`).
        Running => "running",
        /// Finished and the file is in place.
        Success => "success",
        /// Finished with an error; nothing was left under a final name.
        Failed => "failed",
        /// Stopped by a signal, a shutdown or a crash.
        Interrupted => "interrupted",
    }
}

impl Format {
    /// File extension of the dump itself, before compression.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Format::Plain => "sql",
            Format::Custom => "dump",
        }
    }
}

impl Compression {
    /// File extension suffix added by the compression ("" for none).
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Zstd => ".zst",
            Compression::Gzip => ".gz",
            Compression::None => "",
        }
    }

    /// The default level for this algorithm (zstd 3, gzip 6).
    #[must_use]
    pub fn default_level(self) -> i32 {
        match self {
            Compression::Zstd => 3,
            Compression::Gzip => 6,
            Compression::None => 0,
        }
    }

    /// The allowed level range.
    #[must_use]
    pub fn level_range(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Compression::Zstd => 1..=19,
            Compression::Gzip => 1..=9,
            Compression::None => 0..=0,
        }
    }
}
