"""Benchmarks: `python -m bench` runs them all."""


def print_table(rows, target_header: str = "target", value_width: int = 12) -> None:
    """Print (figure, measured, target) rows as aligned columns under a header line."""
    width = max(len(r[0]) for r in rows)
    print(f"{'figure'.ljust(width)}  {'measured':>{value_width}}  {target_header}")
    for label, value, target in rows:
        print(f"{label.ljust(width)}  {value:>{value_width}}  {target}")
