"""The final table (terminal and Markdown) and the JSON record of a verification run."""
import dataclasses
import json


def _params(params):
    return ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


COLUMNS = ("check", "parameters", "theory", "estimate ± s.e.", "z", "verdict",
           "power (σ)", "samples", "seconds", "device")


def rows(results):
    for r in results:
        yield (r.name + (" [negative control]" if r.negative_control else ""),
               _params(r.params), f"{r.theory:.6g}",
               f"{r.estimate:.6g} ± {r.standard_error:.2g}", f"{r.z:+.2f}", r.verdict,
               f"{100 * r.min_detectable_sigma_rel_error:.2g}%", str(r.samples),
               f"{r.seconds:.1f}", r.device)


def text_table(results):
    table = [COLUMNS] + list(rows(results))
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(results, header):
    lines = [header, "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows(results)]
    return "\n".join(lines) + "\n"


def json_record(results, metadata):
    return json.dumps({**metadata, "checks": [dataclasses.asdict(r) for r in results]},
                      indent=2, default=str) + "\n"
