"""The ``eftrain`` command line. Thin: it parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import sys

from eftrain.config import preset, preset_names

__all__ = ["main"]


def _cmd_sim(args: argparse.Namespace) -> int:
    from eftrain import sim

    cfg = preset(args.preset)
    layer = sim.parse_layer(args.layer) if args.layer else sim.DEFAULT_LAYER
    modes = list(sim.PHASES) if args.mode == "all" else [args.mode]
    results = sim.run(modes, cfg, layer, args.batch, args.seed, args.backend)
    print(sim.format_results(results, cfg, layer, args.batch, args.backend))
    return 0 if all(r.ok for r in results) else 1


def _cmd_model(args: argparse.Namespace) -> int:
    from eftrain import perf

    cfg = preset(args.preset)
    rep = perf.report(args.net, cfg, args.batch)
    if args.json:
        json.dump(rep, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(perf.format_table(rep))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from eftrain import bench, sim

    cfg = preset(args.preset)
    modes = tuple(bench.PHASES) if args.mode == "all" else (args.mode,)
    if args.layer:
        layers = [(sim.parse_layer(args.layer), "layer")]
    else:
        layers = [(layer, args.suite) for layer in bench.suite(args.suite)]
    rows: list[bench.BenchRow] = []
    for layer, name in layers:
        ph = modes if layer.input_grad else tuple(m for m in modes if m != "bp")
        if not args.json:
            print(f"... {layer.name} {','.join(ph)}", file=sys.stderr, flush=True)
        rows += bench.bench_layer(layer, cfg, args.batch, ph, suite_name=name, seed=args.seed)
    if args.json:
        out = (rows[0].to_dict() if len(rows) == 1
               else {"preset": cfg.name, "rows": [r.to_dict() for r in rows]})
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(bench.format_rows(rows, cfg))
    if args.save:
        with open(args.save, "w") as fh:
            json.dump({"preset": cfg.name, "batch": args.batch, "rows": [r.to_dict() for r in rows]}, fh,
                      indent=2)
    if args.png:
        what = args.layer or args.suite
        path = bench.plot_rows(rows, args.png, f"{what} @ {cfg.name}, batch {args.batch}")
        print(f"plot: {path}", file=sys.stderr)
    return 0 if all(r.bit_exact for r in rows) else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from eftrain import demo

    png = args.png or f"build/train/adaptation_{args.preset}_{args.backend}.png"
    res = demo.run(args.preset, args.backend, epochs=args.epochs, batch=args.batch,
                   adapt_per_class=args.adapt_per_class, lr=args.lr, momentum=args.momentum,
                   weight_decay=args.weight_decay, seed=args.seed, png=png, progress=not args.no_progress,
                   measure_rtl=args.measure_rtl)
    print(demo.format_report(res))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({k: v for k, v in vars(res).items()}, fh, indent=2, default=str)
    return 0 if res.rtl is None or res.rtl["bits_equal"] else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eftrain", description="EF-Train, open: CNN training accelerator tools")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sim", help="run FP/BP/WU of one layer and print the result table")
    s.add_argument("--mode", choices=["fp", "bp", "wu", "all"], default="all")
    s.add_argument("--preset", choices=preset_names(), default="ci")
    s.add_argument("--layer", help="M,N,H,W,K,S,P (default %(default)s: built-in layer)")
    s.add_argument("--batch", type=int, default=2)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--backend", choices=["rtl", "golden"], default="rtl",
                   help="rtl: Verilator co-simulation compared with golden (default); golden: model only")
    s.set_defaults(func=_cmd_sim)

    m = sub.add_parser("model", help="analytical model: per-layer FP/BP/WU cycles, utilization, GFLOPS")
    m.add_argument("--net", default="vgg16", help="vgg16, cifar_vgg or lenet")
    m.add_argument("--preset", choices=preset_names(), default="zcu102")
    m.add_argument("--batch", type=int, default=16)
    m.add_argument("--json", action="store_true", help="print a JSON object with a 'layers' list")
    m.set_defaults(func=_cmd_model)

    b = sub.add_parser("bench", help="RTL benchmark: measured cycles vs the analytical model per layer phase")
    b.add_argument("--layer", help="M,N,H,W,K,S,P (one layer; default: the --suite)")
    b.add_argument("--suite", default="cifar_vgg", help="cifar_vgg, vgg16 (scaled maps) or smoke")
    b.add_argument("--mode", choices=["fp", "bp", "wu", "all"], default="all")
    b.add_argument("--preset", choices=preset_names(), default="zcu102")
    b.add_argument("--batch", type=int, default=2)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--json", action="store_true",
                   help="JSON: one object (cycles, utilization, predicted_cycles, ...) for one row, "
                   "else {'rows': [...]}")
    b.add_argument("--png", help="save a measured-vs-model bar chart here")
    b.add_argument("--save", help="also write every row as JSON to this file")
    b.set_defaults(func=_cmd_bench)

    t = sub.add_parser("train", help="on-device adaptation demo: train a digits CNN, adapt it on the "
                       "accelerator to a new writer, report accuracy, loss curves and time per layer")
    t.add_argument("--backend", choices=["golden", "rtl"], default="golden",
                   help="where the device steps run (rtl: Verilator co-simulation; slow)")
    t.add_argument("--preset", choices=preset_names(), default="zcu102")
    t.add_argument("--epochs", type=int, default=8, help="passes over the new user's samples")
    t.add_argument("--adapt-per-class", type=int, default=20,
                   help="the new user's labelled samples per digit")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=0.02)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, default=5e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--png", help="loss-curve PNG (default build/train/adaptation_<preset>_<backend>.png)")
    t.add_argument("--json", help="also write the figures as JSON here")
    t.add_argument("--measure-rtl", action="store_true",
                   help="also run one iteration on the RTL: measured cycles per layer and a bit check")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"eftrain: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
