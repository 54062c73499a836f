//! `demo-data`: generates the demo catalogue slice and region lists (see the library) and
//! prints what it matched, so a change in the sources shows in review.

use clap::Parser;
use demo_data::Options;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(about = "Generate the demo catalogue slice and regional lists from the 2024 catalogue and the outpatient table")]
struct Args {
    /// The 2024 edition as the flat CSV [default: ../shared/data/nrdl-2024-flat.csv from the workspace root].
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The notice ending with the 23-drug outpatient table [default: ../shared/policy/004_bfd32f1ecf08185a.txt].
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Directory to write catalogue-2024-slice.csv and region.json to [default: components/catalogue/demo].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let committed = Options::committed();
    let options = Options {
        csv: args.csv.unwrap_or(committed.csv),
        policy: args.policy.unwrap_or(committed.policy),
        out: args.out.unwrap_or(committed.out),
    };
    print!("{}", demo_data::generate(&options)?);
    Ok(())
}
