"""Decision tables as policy files: sheets of a workbook (or CSV files) whose rows are rules.

    cells.py     the cell language (DMN's FEEL unary tests: > 1,000,000, [1..5), "it", "hr", not(null), -)
    sheet.py     the grid of cells of a sheet (openpyxl) or a CSV file
    build.py     header and rows -> typed expression trees (the same trees as YAML rules), per table
    hits.py      hit policies (unique, first, priority, any, collect), applied to the rows that matched
    analysis.py  gaps, forbidden overlaps, rows that never match; examples decided again

A ``kind: tables`` file in the policy folder declares which sheets are tables; see docs/tables.md.
"""
