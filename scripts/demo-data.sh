#!/usr/bin/env bash
# Generates the demo data a fresh deployment serves with an empty store (issue 3, item 7), from
# the real data in ../shared:
#   components/catalogue/demo/catalogue-2024-slice.csv  part of the 2024 catalogue
#       (../shared/data/nrdl-2024-flat.csv): every negotiated and competitive-bid row, every row
#       of a drug the outpatient table names, and whole classes for class search; rows copied
#       verbatim, regular sheets cut (never thinned) so the slice imports as the same entries;
#   components/catalogue/demo/region.json  the region's lists over that slice: dual channel
#       (every negotiated entry), separate payment (negotiated XL01/XL02/XL04 entries) and
#       outpatient (the 23-drug 谈判药门诊用药保障目录 of ../shared/policy/004_bfd32f1ecf08185a.txt
#       with its annual maximums), plus the table's drugs no entry matched and why.
# Both outputs are committed and compiled into the catalogue component; rerun this after
# changing the generator or its inputs and commit the result (a test of tests/demo-data fails
# while the committed files differ from what the generator makes). The generator prints the
# slice's rows per sheet and every outpatient match. Arguments go to the generator:
# --csv FILE, --policy FILE, --out DIR (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo run -q -p demo-data -- "$@"
