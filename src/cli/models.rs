//! `mlsd models …`: list the registry's versions, promote one, roll back — the same moves a
//! running server makes through its admin routes, and which every server follows.

use anyhow::Result;
use clap::Subcommand;
use mlsd_core::registry::Registry;

#[derive(Subcommand)]
pub enum Command {
    /// List versions, their metrics, and which one is current.
    List {
        #[arg(long, default_value = fraud_detector::DESIGN)]
        design: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a version current (it must verify against its checksums).
    Promote {
        version: String,
        #[arg(long, default_value = fraud_detector::DESIGN)]
        design: String,
    },
    /// Move `current` back to the previously promoted version.
    Rollback {
        #[arg(long, default_value = fraud_detector::DESIGN)]
        design: String,
    },
}

pub fn run(registry: &Registry, cmd: Command) -> Result<()> {
    match cmd {
        Command::List { design, json } => {
            let versions = registry.list(&design)?;
            if json {
                println!("{}", serde_json::to_string(&versions)?);
                return Ok(());
            }
            if versions.is_empty() {
                println!("no {design} models in {}", registry.root().display());
            }
            for v in versions {
                let mark = if v.is_current { "*" } else { " " };
                match (&v.manifest, &v.problem) {
                    (Some(m), _) => println!(
                        "{mark} {}  {:<22} {}  created {}  data {}",
                        v.version,
                        m.model_name,
                        // The design's headline metric: AP for fraud, else every metric.
                        match m.metrics.get("average_precision") {
                            Some(ap) => format!("AP {ap:.3}"),
                            None => m
                                .metrics
                                .iter()
                                .map(|(k, v)| format!("{k} {v:.3}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        },
                        m.created_at,
                        &m.training_data_sha256[..m.training_data_sha256.len().min(12)]
                    ),
                    (None, Some(p)) => println!("{mark} {}  BROKEN: {p}", v.version),
                    (None, None) => println!("{mark} {}", v.version),
                }
            }
            Ok(())
        }
        Command::Promote { version, design } => {
            let p = registry.promote(&design, &version)?;
            println!("{design}: current is now {}", p.current.unwrap_or_default());
            Ok(())
        }
        Command::Rollback { design } => {
            let p = registry.rollback(&design)?;
            println!(
                "{design}: rolled back, current is now {}",
                p.current.unwrap_or_default()
            );
            Ok(())
        }
    }
}
