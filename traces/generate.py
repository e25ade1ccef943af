#!/usr/bin/env python3
"""Write the small synthetic traces faasbed ships for its tests and scenarios.

Seeded and deterministic: `python3 traces/generate.py` rewrites the same bytes. Nothing here
comes from the real Azure traces; the files only share their formats:

- azure2019/: the Azure Functions 2019 day files (Shahrad et al., ATC '20):
  invocations_per_function_md.anon.d01.csv  HashOwner,HashApp,HashFunction,Trigger,1..1440
  function_durations_percentiles.anon.d01.csv
  app_memory_percentiles.anon.d01.csv
- azure2021/: the Azure Functions 2021 per-invocation trace (Zhang et al., SOSP '21):
  AzureFunctionsInvocationTraceForTwoWeeksJan2021.csv  app,func,end_timestamp,duration
"""

import hashlib
import math
import os
import random

SEED = 20190715
HERE = os.path.dirname(os.path.abspath(__file__))
MINUTES = 1440


def h(name):
    """A 64-hex id in the style of the dataset's hashes."""
    return hashlib.sha256(("faasbed-synthetic/" + name).encode()).hexdigest()


def poisson(rng, lam):
    """Knuth's method; lam stays small here."""
    if lam <= 0:
        return 0
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1


# name, trigger, app, per-minute rate as a function of the minute, durations ms (avg, p50, p99)
FUNCTIONS = [
    # a busy HTTP API with a daily swell: about 20-60 calls a minute
    ("api", "http", "shop", lambda m: 40 + 20 * math.sin(2 * math.pi * m / MINUTES), (35, 20, 400)),
    # a timer that fires once every 2 minutes: every call meets an idle function
    ("cron", "timer", "ops", lambda m: 1 if m % 2 == 0 else 0, (900, 850, 2000)),
    # a queue consumer in bursts: 10 busy minutes in every 30
    ("worker", "queue", "shop", lambda m: 25 if (m % 30) < 10 else 0.2, (120, 90, 700)),
    # a rarely used webhook: about one call every 7 minutes
    ("hook", "http", "crm", lambda m: 1 / 7, (60, 50, 150)),
    # an event handler with a steady trickle
    ("event", "event", "crm", lambda m: 3, (15, 10, 90)),
]


def azure2019(rng):
    out = os.path.join(HERE, "azure2019")
    os.makedirs(out, exist_ok=True)
    owner = {"shop": h("owner/a"), "ops": h("owner/b"), "crm": h("owner/c")}
    rows = []
    for name, trigger, app, rate, _ in FUNCTIONS:
        counts = []
        for m in range(MINUTES):
            r = rate(m)
            counts.append(int(r) if name == "cron" else poisson(rng, r))
        rows.append((owner[app], h("app/" + app), h("fn/" + name), trigger, counts))
    with open(os.path.join(out, "invocations_per_function_md.anon.d01.csv"), "w") as f:
        f.write("HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(i) for i in range(1, MINUTES + 1)) + "\n")
        for o, a, fn, t, counts in rows:
            f.write(f"{o},{a},{fn},{t}," + ",".join(map(str, counts)) + "\n")
    with open(os.path.join(out, "function_durations_percentiles.anon.d01.csv"), "w") as f:
        f.write("HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,"
                "percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,"
                "percentile_Average_99,percentile_Average_100\n")
        for (name, _, app, _, (avg, p50, p99)), (o, a, fn, _, counts) in zip(FUNCTIONS, rows):
            lo, hi = max(1, p50 // 4), p99 * 2
            f.write(f"{o},{a},{fn},{avg},{sum(counts)},{lo},{hi},{lo},{lo + 1},{p50 * 3 // 4},{p50},"
                    f"{(p50 + p99) // 2},{p99},{hi}\n")
    with open(os.path.join(out, "app_memory_percentiles.anon.d01.csv"), "w") as f:
        f.write("HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,"
                "AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,"
                "AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,"
                "AverageAllocatedMb_pct100\n")
        for app, mb in [("shop", 180), ("ops", 140), ("crm", 95)]:
            pct = [int(mb * x) for x in (0.8, 0.85, 0.9, 1.0, 1.05, 1.2, 1.3, 1.4)]
            f.write(f"{owner[app]},{h('app/' + app)},{rng.randint(500, 5000)},{mb}," + ",".join(map(str, pct)) + "\n")


def azure2021(rng):
    """One hour of per-invocation rows, sorted by end time as in the real file."""
    out = os.path.join(HERE, "azure2021")
    os.makedirs(out, exist_ok=True)
    hour = 3600.0
    rows = []
    # (app, func, arrival process, duration sampler seconds)
    specs = [
        ("a-" + h("app/shop")[:12], h("fn/api")[:16], "poisson", 0.6, lambda: rng.lognormvariate(math.log(0.02), 0.8)),
        ("a-" + h("app/ops")[:12], h("fn/cron")[:16], "every", 120.0, lambda: rng.uniform(0.7, 1.1)),
        ("a-" + h("app/shop")[:12], h("fn/worker")[:16], "bursts", 600.0, lambda: rng.lognormvariate(math.log(0.09), 0.5)),
        ("a-" + h("app/crm")[:12], h("fn/hook")[:16], "poisson", 1 / 420, lambda: rng.uniform(0.03, 0.1)),
    ]
    for app, func, kind, p, dur in specs:
        t = 0.0
        while True:
            if kind == "poisson":
                t += rng.expovariate(p)
            elif kind == "every":
                t += p
            else:  # bursts: 2 minutes at 0.5/s every p seconds
                t += rng.expovariate(0.5)
                if (t % p) > 120:
                    t += p - (t % p)
            if t >= hour:
                break
            d = dur()
            rows.append((t + d, app, func, d))
    rows.sort()
    with open(os.path.join(out, "AzureFunctionsInvocationTraceForTwoWeeksJan2021.csv"), "w") as f:
        f.write("app,func,end_timestamp,duration\n")
        for end, app, func, d in rows:
            f.write(f"{app},{func},{end:.6f},{d:.6f}\n")


if __name__ == "__main__":
    rng = random.Random(SEED)
    azure2019(rng)
    azure2021(rng)
