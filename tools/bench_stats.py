#!/usr/bin/env python3
"""The tables tools/bench-peers.sh prints, from the files it writes (standard library only).

  bench_stats.py report HZ RAW_FILE...   CPU per answered query of each server, several files
                                         pooled (HZ: the kernel's CLK_TCK, `getconf CLK_TCK`),
                                         then the DNSSEC ratios (RATIOS) of the servers that ran
  bench_stats.py load RESULTS WHAT       zone loading: load time and resident memory
  bench_stats.py timing TIMING_FILE      the answer times eightfold's workers logged (TIMING=1)
  bench_stats.py --self-test             known inputs through every function, exact outputs
                                         checked; exits 1 on any mismatch

A RAW_FILE line is one run: "name transport answered lost qps user_ticks system_ticks sleeps
cpu_ns" (run_one in bench-peers.sh writes it).
"""
import itertools
import random
import statistics
import sys

# The bootstrap: this many resamples of the rounds, and the medians at these places in their
# sorted list (the 5th and 95th percentiles: a 90% interval).
RESAMPLES = 2000
LOW, HIGH = 100, 1899
SEED = 0

# The ratios of CPU per answered query the report adds below its table, for each pair whose
# two servers both ran: what DO queries to a signed zone cost each server (the target: at most
# 1.05x), what a signed zone costs queries without DO, and eightfold against Knot, both signed.
RATIOS = [
    ("eightfold+dnssec", "eightfold"),
    ("eightfold+signed", "eightfold"),
    ("eightfold+dnssec", "eightfold+signed"),
    ("knot+dnssec", "knot"),
    ("eightfold+dnssec", "knot+dnssec"),
]


def run_entry(name, mode, done, lost, qps, u, s, w, ns, hz):
    """One run's fields (as read) -> (entry, disagreement).

    entry: (user us, system us, queries/s, lost, sleeps per query), CPU per answered query,
    or None for a run that answered nothing. disagreement: None, or the text saying that
    schedstat and the ticks disagreed (and the ticks were used).
    """
    done = int(done)
    # CPU per answered query: the exact total (schedstat), split into user and system as
    # the ticks split it.
    ticks, ns = int(u) + int(s), int(ns)
    disagreement = None
    if ns > 0 and abs(ns / 1e9 - ticks / hz) > max(0.05 * ticks / hz, 3 / hz):
        # The two clocks count the same time; if they disagree (threads that ended
        # before the run did are in the ticks only), trust the ticks and say so.
        disagreement = f"{name} {mode} {ns / 1e9:.2f} s against {ticks / hz:.2f} s"
        ns = 0
    cpu = ns / 1e3 / done if done and ns > 0 else ticks / hz / done * 1e6 if done else 0
    user = cpu * int(u) / ticks if ticks else 0
    return ((user, cpu - user, float(qps), int(lost), int(w) / done) if done else None), disagreement


def read_runs(files, hz):
    """files: one iterable of lines per RAW file -> (runs, rounds, order, disagreed).

    runs[(name, mode)]: the entries (run_entry) in file order; rounds[(name, mode)]: the
    round of each, (file index, k) for the k-th run of that server in that file; order: the
    keys as first seen; disagreed: the disagreement texts.
    """
    runs = {}
    rounds = {}
    order = []
    disagreed = []
    for f, lines in enumerate(files):
        seen = {}
        for line in lines:
            if not line.strip():
                continue
            name, mode, done, lost, qps, u, s, w, ns = line.split()
            key = (name, mode)
            if key not in runs:
                runs[key] = []
                rounds[key] = []
                order.append(key)
            # One entry per round (None for a run that answered nothing), with its round: the
            # file, and the k-th run of that server in it, so that runs of one round pair up.
            seen[key] = seen.get(key, 0) + 1
            rounds[key].append((f, seen[key]))
            entry, disagreement = run_entry(name, mode, done, lost, qps, u, s, w, ns, hz)
            if disagreement is not None:
                disagreed.append(disagreement)
            runs[key].append(entry)
    return runs, rounds, order, disagreed


def valid(runs, key):
    return [r for r in runs.get(key, []) if r is not None]


def median(runs, key, i):
    values = [r[i] for r in valid(runs, key)]
    return statistics.median(values) if values else float("nan")


def total(runs, key):
    return median(runs, key, 0) + median(runs, key, 1)


def round_ratios(runs, rounds, key, base):
    # Each round's ratio to the base server run in the same round: drift of the shared
    # host between rounds cancels out.
    by_round = dict(zip(rounds.get(base, []), runs.get(base, [])))
    pairs = [(a, by_round.get(r)) for r, a in zip(rounds.get(key, []), runs.get(key, []))]
    return [(a[0] + a[1]) / (b[0] + b[1]) for a, b in pairs if a and b]


def resample_medians(ratios):
    # The median of each of 2,000 resamples of the rounds (drawn with replacement, as many as
    # there are rounds), in the order drawn. Seeded, so a report is reproducible from its runs.
    rng = random.Random(SEED)
    return [statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(RESAMPLES)]


def bootstrap(ratios):
    # How far the median of the ratios can be trusted: the 5th and 95th percentiles of the
    # medians of the resamples (a bootstrap).
    medians = sorted(resample_medians(ratios))
    return medians[LOW], medians[HIGH]


def paired(runs, rounds, key, base):
    # Median and range of the round-by-round ratios, then the median's 90% interval.
    ratios = round_ratios(runs, rounds, key, base)
    if not ratios:
        return "-", "-"
    if len(ratios) > 1:
        low, high = bootstrap(ratios)
        interval = f"{low:.3f}-{high:.3f}"
    else:
        interval = "-"
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})", interval


def report(runs, rounds, order):
    """The CPU table's lines, one at a time."""
    yield "| server | transport | queries/s | lost (all runs) | CPU per answered query (user + system) | spread | vs echo floor | vs gdnsd | vs echo, round by round | its median, 90% interval | sleeps per query |"
    yield "|---|---|---|---|---|---|---|---|---|---|---|"
    for key in order:
        name, mode = key
        cpu = total(runs, key)
        per_run = [r[0] + r[1] for r in valid(runs, key)]
        spread = f"{min(per_run):.2f}-{max(per_run):.2f}" if per_run else "-"
        echo, gd = total(runs, ("echo", mode)), total(runs, ("gdnsd", mode))
        r_echo = f"{cpu / echo:.2f}x" if ("echo", mode) in runs else "-"
        r_gd = f"{cpu / gd:.2f}x" if ("gdnsd", mode) in runs else "-"
        lost = sum(r[3] for r in valid(runs, key))
        by_round, interval = paired(runs, rounds, key, ("echo", mode))
        yield f"| {name} | {mode} | {median(runs, key, 2):,.0f} | {lost} | {cpu:.2f} us ({median(runs, key, 0):.2f} + {median(runs, key, 1):.2f}) | {spread} | {r_echo} | {r_gd} | {by_round} | {interval} | {median(runs, key, 4):.2f} |"


def ratios_table(runs, rounds, order):
    """The RATIOS whose two servers both answered, per transport -> the lines of a second table
    (none when no pair ran): the ratio of the medians, and round by round as in the report."""
    rows = []
    for mode in dict.fromkeys(m for _, m in order):
        for a, b in RATIOS:
            if not (valid(runs, (a, mode)) and valid(runs, (b, mode))):
                continue
            by_round, interval = paired(runs, rounds, (a, mode), (b, mode))
            ratio = total(runs, (a, mode)) / total(runs, (b, mode))
            rows.append(f"| {a} / {b} | {mode} | {ratio:.3f}x | {by_round} | {interval} |")
    if rows:
        yield ""
        yield "| CPU per answered query, ratio | transport | of the medians | round by round | its median, 90% interval |"
        yield "|---|---|---|---|---|"
        yield from rows


def disagreed_note(disagreed):
    return f"({len(disagreed)} runs where schedstat and the ticks disagreed, ticks used; first: {disagreed[0]})"


def load_table(lines, what):
    """Zone loading: lines "name seconds rss_kib", ROUNDS per server -> the table's lines."""
    yield "| server | loaded | load time (to first answer), median | spread | resident memory (3 s later), median |"
    yield "|---|---|---|---|---|"
    rows = {}
    for line in lines:
        name, seconds, rss = line.split()
        rows.setdefault(name, []).append((float(seconds), int(rss)))
    for name, runs in rows.items():
        times = [t for t, _ in runs]
        rss = statistics.median(r for _, r in runs) / 1024
        yield f"| {name} | {what} | {statistics.median(times):.2f} s | {min(times):.2f}-{max(times):.2f} | {rss:.0f} MiB |"


def timing_table(lines):
    """Lines "name mode first_count=.. first_ns=.. later_count=.. later_ns=.. clock_ns=.." -> the
    table's lines: the answers of each server and transport over every run, the first datagram
    of each batch and the later ones, each a mean weighted by its count."""
    sums = {}
    order = []
    for line in lines:
        name, mode, *pairs = line.split()
        f = {k: float(v) for k, v in (p.split("=") for p in pairs)}
        key = (name, mode)
        if key not in sums:
            sums[key] = [0.0, 0.0, 0.0, 0.0]
            order.append(key)
        s = sums[key]
        s[0] += f["first_count"]
        s[1] += f["first_count"] * f["first_ns"]
        s[2] += f["later_count"]
        s[3] += f["later_count"] * f["later_ns"]
    yield "Time per answer inside the worker (eightfold built with --features answer-timing; the clock's own cost taken off)"
    yield ""
    yield "| server | transport | answers timed | first of a batch: share, mean | later in a batch: mean | all: mean |"
    yield "|---|---|---|---|---|---|"
    for key in order:
        n1, t1, n2, t2 = sums[key]
        n = n1 + n2
        if not n:
            continue
        yield f"| {key[0]} | {key[1]} | {n:,.0f} | {n1 / n:.0%}, {mean_ns(t1, n1)} | {mean_ns(t2, n2)} | {mean_ns(t1 + t2, n)} |"


def mean_ns(t, c):
    return f"{t / c:.0f} ns" if c else "-"


def self_test():
    failures = []

    def check(what, got, expected):
        if got != expected:
            failures.append(f"{what}: got {got!r}, expected {expected!r}")

    # run_entry, at HZ 100 (a tick is 10 ms). Schedstat agrees with the ticks: 20 ms of CPU
    # over 1,000 answers is 20 us each, split 1:3 as the ticks split it.
    check("run_entry, clocks agree", run_entry("a", "udp", "1000", "5", "1234.5", "1", "3", "250", "20000000", 100.0),
          ((5.0, 15.0, 1234.5, 5, 0.25), None))
    # Schedstat 1 s against 20 ms of ticks: the ticks are used (4 ticks over 1,000 answers).
    check("run_entry, clocks disagree", run_entry("a", "tcp", "1000", "0", "10", "1", "3", "0", "1000000000", 100.0),
          ((10.0, 30.0, 10.0, 0, 0.0), "a tcp 1.00 s against 0.04 s"))
    # Off by 2 ticks: still agreeing (the margin is the larger of 5% and 3 ticks).
    check("run_entry, within 3 ticks", run_entry("a", "udp", "100", "0", "1", "1", "0", "0", "30000000", 100.0),
          ((300.0, 0.0, 1.0, 0, 0.0), None))
    check("run_entry, no schedstat", run_entry("a", "udp", "500", "0", "1", "2", "2", "0", "0", 100.0),
          ((40.0, 40.0, 1.0, 0, 0.0), None))
    check("run_entry, nothing answered", run_entry("a", "udp", "0", "7", "0", "2", "2", "0", "0", 100.0), (None, None))
    check("run_entry, no ticks", run_entry("a", "udp", "10", "0", "1", "0", "0", "0", "0", 100.0),
          ((0, 0, 1.0, 0, 0.0), None))

    # Two RAW files; the second has blank lines and a run that answered nothing. CPU per query
    # (us, from schedstat): echo 10, 10, 20 (round 1 of file 1 and 2, then round 1 of file 2);
    # eightfold 20, 30, then none; gdnsd 40, 40.
    file1 = [
        "echo udp 1000 0 100000 1 1 10 10000000\n",
        "eightfold udp 1000 1 90000 1 1 20 20000000\n",
        "gdnsd udp 1000 2 80000 2 2 30 40000000\n",
        "echo udp 1000 0 110000 1 1 10 10000000\n",
        "eightfold udp 1000 3 95000 2 1 20 30000000\n",
        "gdnsd udp 1000 0 85000 2 2 30 40000000\n",
    ]
    file2 = [
        "\n",
        "echo udp 1000 0 120000 1 1 20 20000000\n",
        "eightfold udp 0 1000 0 0 0 0 0\n",
        "knot tcp 2000 0 50000 3 1 0 60000000\n",
        "\n",
    ]
    runs, rounds, order, disagreed = read_runs([file1, file2], 100.0)
    check("read_runs order", order, [("echo", "udp"), ("eightfold", "udp"), ("gdnsd", "udp"), ("knot", "tcp")])
    check("read_runs rounds", rounds[("eightfold", "udp")], [(0, 1), (0, 2), (1, 1)])
    check("read_runs runs", runs[("eightfold", "udp")],
          [(10.0, 10.0, 90000.0, 1, 0.02), (20.0, 10.0, 95000.0, 3, 0.02), None])
    check("read_runs disagreed", disagreed, [])
    check("valid", valid(runs, ("eightfold", "udp")), [(10.0, 10.0, 90000.0, 1, 0.02), (20.0, 10.0, 95000.0, 3, 0.02)])
    check("valid, absent", valid(runs, ("nsd", "udp")), [])
    check("median, odd", median(runs, ("echo", "udp"), 2), 110000.0)
    check("median, even", median(runs, ("eightfold", "udp"), 0), 15.0)
    nan = median(runs, ("nsd", "udp"), 0)
    check("median, absent is nan", nan != nan, True)
    check("total", total(runs, ("eightfold", "udp")), 25.0)
    check("total, gdnsd", total(runs, ("gdnsd", "udp")), 40.0)
    # eightfold over echo, round by round: 20/10 and 30/10; round (1, 1) has no eightfold answer.
    check("round_ratios", round_ratios(runs, rounds, ("eightfold", "udp"), ("echo", "udp")), [2.0, 3.0])
    check("round_ratios, no base", round_ratios(runs, rounds, ("knot", "tcp"), ("echo", "tcp")), [])
    # The bootstrap, as published with the figures: 2,000 resamples, seed 0, the 101st and the
    # 1,900th of their sorted medians. The values below are what that gives (pinned: a change
    # of method, seed or generator shows here). A single repeated value is its own interval.
    check("bootstrap constants", (RESAMPLES, SEED, LOW, HIGH), (2000, 0, 100, 1899))
    draws = resample_medians([1.0, 2.0, 3.0, 4.0, 5.0])
    check("resample_medians, count", len(draws), 2000)
    check("resample_medians, first draws", draws[:8], [3.0, 3.0, 4.0, 5.0, 4.0, 4.0, 3.0, 4.0])
    check("bootstrap, 32 rounds", bootstrap([round(1 + ((i * 37) % 101) / 100, 2) for i in range(32)]), (1.365, 1.615))
    check("bootstrap, constant", bootstrap([1.5, 1.5, 1.5]), (1.5, 1.5))
    check("bootstrap, two", bootstrap([2.0, 3.0]), (2.0, 3.0))
    check("bootstrap, known", bootstrap([1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9]), (1.2, 1.7))
    check("bootstrap, skewed", bootstrap([0.95, 1.0, 1.01, 1.02, 1.03, 1.05, 1.3]), (1.0, 1.05))
    check("paired", paired(runs, rounds, ("eightfold", "udp"), ("echo", "udp")), ("2.50x (2.00-3.00)", "2.000-3.000"))
    check("paired, one round", paired(*read_runs([file1[:2]], 100.0)[:2], ("eightfold", "udp"), ("echo", "udp")),
          ("2.00x (2.00-2.00)", "-"))
    check("paired, no rounds", paired(runs, rounds, ("knot", "tcp"), ("echo", "tcp")), ("-", "-"))
    check("report", list(report(runs, rounds, order)), [
        "| server | transport | queries/s | lost (all runs) | CPU per answered query (user + system) | spread | vs echo floor | vs gdnsd | vs echo, round by round | its median, 90% interval | sleeps per query |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        "| echo | udp | 110,000 | 0 | 10.00 us (5.00 + 5.00) | 10.00-20.00 | 1.00x | 0.25x | 1.00x (1.00-1.00) | 1.000-1.000 | 0.01 |",
        "| eightfold | udp | 92,500 | 4 | 25.00 us (15.00 + 10.00) | 20.00-30.00 | 2.50x | 0.62x | 2.50x (2.00-3.00) | 2.000-3.000 | 0.02 |",
        "| gdnsd | udp | 82,500 | 2 | 40.00 us (20.00 + 20.00) | 40.00-40.00 | 4.00x | 1.00x | 4.00x (4.00-4.00) | 4.000-4.000 | 0.03 |",
        "| knot | tcp | 50,000 | 0 | 30.00 us (22.50 + 7.50) | 30.00-30.00 | - | - | - | - | 0.00 |",
    ])
    check("ratios_table, no pair", list(ratios_table(runs, rounds, order)), [])
    # Two rounds of the DNSSEC servers (CPU per query, us): eightfold 10, 20; eightfold+dnssec
    # 11, 20; eightfold+signed 10, 20; knot 20, 40; knot+dnssec 25, 40 (round 2 of knot+dnssec
    # answered nothing in tcp, so that pair has one round there).
    signed = []
    for cpu in ((10, 11, 10, 20, 25), (20, 20, 20, 40, 40)):
        for name, us in zip(("eightfold", "eightfold+dnssec", "eightfold+signed", "knot", "knot+dnssec"), cpu):
            signed.append(f"{name} udp 1000 0 1000 1 1 0 {us * 1000000}\n")
    signed += ["knot tcp 1000 0 1000 1 1 0 20000000\n", "knot+dnssec tcp 1000 0 1000 1 1 0 30000000\n",
               "knot tcp 1000 0 1000 1 1 0 20000000\n", "knot+dnssec tcp 0 1000 0 0 0 0 0\n"]
    check("ratios_table", list(ratios_table(*read_runs([signed], 100.0)[:3])), [
        "",
        "| CPU per answered query, ratio | transport | of the medians | round by round | its median, 90% interval |",
        "|---|---|---|---|---|",
        "| eightfold+dnssec / eightfold | udp | 1.033x | 1.05x (1.00-1.10) | 1.000-1.100 |",
        "| eightfold+signed / eightfold | udp | 1.000x | 1.00x (1.00-1.00) | 1.000-1.000 |",
        "| eightfold+dnssec / eightfold+signed | udp | 1.033x | 1.05x (1.00-1.10) | 1.000-1.100 |",
        "| knot+dnssec / knot | udp | 1.083x | 1.12x (1.00-1.25) | 1.000-1.250 |",
        "| eightfold+dnssec / knot+dnssec | udp | 0.477x | 0.47x (0.44-0.50) | 0.440-0.500 |",
        "| knot+dnssec / knot | tcp | 1.500x | 1.50x (1.50-1.50) | - |",
    ])
    check("disagreed_note", disagreed_note(["a tcp 1.00 s against 0.04 s", "b udp 2.00 s against 0.01 s"]),
          "(2 runs where schedstat and the ticks disagreed, ticks used; first: a tcp 1.00 s against 0.04 s)")

    check("load_table", list(load_table([
        "eightfold 1.5 204800\n", "knot 3.25 512000\n", "eightfold 1.25 210000\n",
        "knot 3.0 500000\n", "eightfold 2.0 200000\n", "knot 2.5 520000\n",
    ], "1,000 names")), [
        "| server | loaded | load time (to first answer), median | spread | resident memory (3 s later), median |",
        "|---|---|---|---|---|",
        "| eightfold | 1,000 names | 1.50 s | 1.25-2.00 | 200 MiB |",
        "| knot | 1,000 names | 3.00 s | 2.50-3.25 | 500 MiB |",
    ])
    check("mean_ns", (mean_ns(300.0, 2.0), mean_ns(0.0, 0.0)), ("150 ns", "-"))
    check("timing_table", list(timing_table([
        "eightfold udp first_count=100 first_ns=200 later_count=300 later_ns=100 clock_ns=20\n",
        "eightfold udp first_count=100 first_ns=400 later_count=500 later_ns=50 clock_ns=20\n",
        "eightfold tcp first_count=0 first_ns=0 later_count=0 later_ns=0 clock_ns=20\n",
        "eightfold-nocache udp first_count=1000 first_ns=500 later_count=0 later_ns=0 clock_ns=20\n",
    ])), [
        "Time per answer inside the worker (eightfold built with --features answer-timing; the clock's own cost taken off)",
        "",
        "| server | transport | answers timed | first of a batch: share, mean | later in a batch: mean | all: mean |",
        "|---|---|---|---|---|---|",
        "| eightfold | udp | 1,000 | 20%, 300 ns | 69 ns | 115 ns |",
        "| eightfold-nocache | udp | 1,000 | 100%, 500 ns | - | 500 ns |",
    ])

    for failure in failures:
        print(f"bench_stats self-test: {failure}", file=sys.stderr)
    if failures:
        return 1
    print("bench_stats self-test: all passed")
    return 0


def read_lines(path):
    with open(path) as f:
        return f.readlines()


def main(argv):
    usage = "usage: bench_stats.py report HZ RAW_FILE... | load RESULTS WHAT | timing TIMING_FILE | --self-test"
    if argv == ["--self-test"]:
        return self_test()
    if len(argv) >= 3 and argv[0] == "report":
        runs, rounds, order, disagreed = read_runs((read_lines(path) for path in argv[2:]), float(argv[1]))
        if disagreed:
            print(disagreed_note(disagreed), file=sys.stderr)
        lines = itertools.chain(report(runs, rounds, order), ratios_table(runs, rounds, order))
    elif len(argv) == 3 and argv[0] == "load":
        lines = load_table(read_lines(argv[1]), argv[2])
    elif len(argv) == 2 and argv[0] == "timing":
        lines = timing_table(read_lines(argv[1]))
    else:
        print(usage, file=sys.stderr)
        return 2
    # Line by line, so that whatever is printed before a failure still shows.
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
