"""Fit the polynomial tables of symgrad.special in 40-digit arithmetic and rewrite
symgrad/special_tables.py. Run: python tools/fit_special.py"""

from __future__ import annotations

from pathlib import Path

from symgrad.special import fit_tables, tables_source

TARGET = Path(__file__).resolve().parents[1] / "symgrad" / "special_tables.py"

if __name__ == "__main__":
    TARGET.write_text(tables_source(fit_tables()), encoding="utf-8")
    print(f"wrote {TARGET}")
