//! `nightjar onedrive login|logout|whoami`, and the opener that lets the
//! core reach `onedrive:` destinations through the Graph client.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use nightjar_core::config::{OneDriveSettings, SecretStoreKind, SecretsSettings};
use nightjar_core::secrets::SecretStore;
use nightjar_core::Result;
use nightjar_onedrive::{Graph, GraphConfig};

use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum OneDriveCommand {
    /// Sign in to Microsoft (browser with PKCE; --device-code for a code to type elsewhere).
    Login(LoginArgs),
    /// Forget the stored OneDrive sign-in (the refresh token in the keyring).
    Logout,
    /// Show the signed-in Microsoft account.
    Whoami(crate::cli::JsonFlag),
    /// List the OneDrive-synced folders on this machine (candidate backup destinations).
    Folders(crate::cli::JsonFlag),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Sign in with a code typed on another device (no local browser needed).
    #[arg(long)]
    pub device_code: bool,
    /// Do not try to open a browser; only print the sign-in URL.
    #[arg(long, conflicts_with = "device_code")]
    pub no_browser: bool,
}

/// Opens `url` in the system browser, best effort. The `open` crate
/// passes the address whole on every OS (`cmd /C start` would cut it at
/// its first `&`, losing the sign-in request's parameters).
fn open_browser(url: &str) {
    if open::that_detached(url).is_err() {
        eprintln!("(Could not open a browser; open the address above by hand.)");
    }
}

pub fn run(settings: &OneDriveSettings, secrets: &SecretsSettings, store: Arc<dyn SecretStore>, cmd: OneDriveCommand) -> Result<ExitCode> {
    if let OneDriveCommand::Folders(j) = &cmd {
        let found = nightjar_onedrive::synced::detect_folders();
        if j.json {
            print_json(&found);
        } else if found.is_empty() {
            println!("No OneDrive-synced folder was found; install and sign in to the OneDrive client, or use an onedrive: destination.");
        } else {
            for f in &found {
                println!("{}", f.display());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let graph = Graph::new(GraphConfig::from_settings(settings), store)?;
    match cmd {
        OneDriveCommand::Login(a) => {
            graph.config().check_client_id()?;
            if secrets.store == SecretStoreKind::Keyring && std::env::var("NIGHTJAR_KEYRING").is_ok_and(|v| v == "off") {
                return Err(nightjar_core::Error::new(
                    nightjar_core::ErrorKind::Secret,
                    "The OneDrive sign-in is kept in the OS keyring, which is switched off (NIGHTJAR_KEYRING=off); unset it to sign in.",
                ));
            }
            let account = if a.device_code {
                graph.login_device_code(&mut |dc| eprintln!("{}", if dc.message.is_empty() { format!("Open {} and enter the code {}", dc.verification_uri, dc.user_code) } else { dc.message.clone() }))?
            } else {
                let no_browser = a.no_browser;
                graph.login_browser(Duration::from_secs(300), &mut |url| {
                    eprintln!("Sign in to Microsoft in your browser:\n  {url}");
                    if !no_browser {
                        open_browser(url);
                    }
                })?
            };
            println!("Signed in to OneDrive as {}.", account.username);
        }
        OneDriveCommand::Logout => {
            if graph.tokens().logout()? {
                println!("Signed out of OneDrive (the sign-in was removed from the keyring).");
            } else {
                println!("Nightjar was not signed in to OneDrive.");
            }
        }
        OneDriveCommand::Folders(_) => unreachable!("handled above"),
        OneDriveCommand::Whoami(j) => {
            let account = graph.whoami()?;
            if j.json {
                print_json(&account);
            } else {
                match &account.display_name {
                    Some(d) => println!("{} ({d})", account.username),
                    None => println!("{}", account.username),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
