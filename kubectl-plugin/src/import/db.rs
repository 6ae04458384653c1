// SPDX-License-Identifier: Apache-2.0
//! Reading v2's `multi_interface` table from MariaDB/MySQL (mysql_async).

use std::io::IsTerminal;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

use super::map::Row;
use crate::client::Failure;

/// Where the password comes from when it is not typed at the prompt.
pub const PASSWORD_ENV: &str = "MULTINIC_DB_PASSWORD";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const QUERY: &str = "SELECT id, attached_node_name, mac_address, ip_address, subnet_mask, gateway, dns, vlan \
                     FROM multi_interface ORDER BY id";
/// The columns of [`QUERY`], in its order; v2 declared all but `id` nullable.
type Columns =
    (i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<i64>);

/// A checked `--from-db` URL, before any password is asked for.
pub struct Source {
    opts: Opts,
    /// `user@host:port/db`, for messages.
    pub shown: String,
}

impl Source {
    /// `mysql://user@host:port/db` (or `mariadb://…`). A password in the URL is
    /// refused: it would end up in the shell's history and in `ps`.
    pub fn parse(url: &str) -> Result<Source, Failure> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_string(),
        };
        let opts = Opts::from_url(&url)
            .map_err(|e| Failure::usage(format!("--from-db: {e}; write it as mysql://USER@HOST:PORT/DATABASE")))?;
        if opts.pass().is_some() {
            return Err(Failure::usage(format!(
                "--from-db: the URL carries a password; remove it (shell history, ps) and set {PASSWORD_ENV} or type it at the prompt"
            )));
        }
        let Some(db) = opts.db_name().map(str::to_string) else {
            return Err(Failure::usage("--from-db: name the database: mysql://USER@HOST:PORT/DATABASE"));
        };
        let user = opts.user().unwrap_or("root").to_string();
        let shown = format!("{user}@{}:{}/{db}", opts.ip_or_hostname(), opts.tcp_port());
        Ok(Source { opts, shown })
    }

    /// The password from the environment, else asked on the terminal.
    pub fn password(&self) -> Result<String, Failure> {
        if let Ok(p) = std::env::var(PASSWORD_ENV) {
            return Ok(p);
        }
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage(format!(
                "no database password: set {PASSWORD_ENV} (empty for none), or run on a terminal to be asked"
            )));
        }
        rpassword::prompt_password(format!("Password for {}: ", self.shown))
            .map_err(|e| Failure::usage(format!("cannot read the password: {e}")))
    }

    /// Every row of `multi_interface`, ordered by id.
    pub async fn rows(&self, password: String) -> Result<Vec<Row>, Failure> {
        let opts = OptsBuilder::from_opts(self.opts.clone()).pass(Some(password));
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts))
            .await
            .map_err(|_| self.failure(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| self.failure(explain(&e)))?;
        let rows: Vec<Columns> =
            conn.query(QUERY).await.map_err(|e| self.failure(format!("reading multi_interface: {}", explain(&e))))?;
        let _ = conn.disconnect().await;
        Ok(rows
            .into_iter()
            .map(|(id, attached_node_name, mac_address, ip_address, subnet_mask, gateway, dns, vlan)| Row {
                id,
                attached_node_name,
                mac_address,
                ip_address,
                subnet_mask,
                gateway,
                dns,
                vlan,
            })
            .collect())
    }

    fn failure(&self, message: String) -> Failure {
        Failure { message: format!("database {}: {message}", self.shown), code: 1 }
    }
}

fn explain(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) if s.code == 1045 => {
            format!("{}; check the user and the password ({PASSWORD_ENV})", s.message)
        }
        mysql_async::Error::Server(s) if s.code == 1146 => {
            format!("{}; is this the v2 database (table multi_interface)?", s.message)
        }
        mysql_async::Error::Server(s) if s.code == 1054 => {
            format!("{}; the table lacks a column v2 had (see README, Migrating from v2)", s.message)
        }
        mysql_async::Error::Io(io) => format!("{io}; check host and port, and that the server accepts TCP connections"),
        other => other.to_string(),
    }
}
