"""The markdown table of one hyperfine run's JSON export, shared by the benches."""
import json


def table(work, name):
    """Print a row per command of WORK/NAME.json; return each command's median."""
    res = {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
    for cmd, r in res.items():
        print(f"| {cmd} | {r['median']*1000:.2f} | {r['min']*1000:.2f} | {r['max']*1000:.2f} | {(r['user']+r['system'])*1000:.2f} |")
    return {k: v["median"] for k, v in res.items()}


def header():
    print("| command | median ms | min ms | max ms | mean CPU ms |")
    print("|---|---:|---:|---:|---:|")
