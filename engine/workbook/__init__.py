"""The policy workbook: a whole policy set as readable sheets for review, and an edited workbook back as YAML.

    layout.py   the conventions both directions share: how a YAML document is cut into sections (settings,
                one row per entry, one row per list item), how a section's path is written ("§ criteria[size]
                .bands.ranges"), how a value is written in a cell and read back, and YAML comments per row
    export.py   ``pmo export-policies``: every policy file (and its reference data and decision tables) as a
                sheet, each row with the file:line it came from, a cover sheet with the policy hash; byte for
                byte the same workbook for the same policy and date
    reader.py   ``pmo import-policies``: the workbook back to YAML files (comments kept), every cell it cannot
                read a located error (``policies.xlsx!intake!D12``), the result loaded and checked by the
                policy loader before anything is written, its diagnostics named by cell too

See docs/workbook.md.
"""
