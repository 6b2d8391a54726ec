"""`python -m demo [run|down|screenshots]`: the whole loop with a live view and a closing summary
(`make demo`); stop the servers a run left up for browsing (`make down`); or picture their UIs."""

import argparse
import sys

from rich.console import Console
from rich.live import Live

from demo.services import ui_services
from demo.settings import DemoSettings
from demo.story import Story, run_story
from demo.supervisor import DemoError, stop_on_signal
from demo.view import summary_tables
from infra.localstack import LocalStackError
from runtime.telemetry import quiet


def _down(settings: DemoSettings) -> int:
    for svc in ui_services(settings):
        print(f"{svc.name}: {'stopped' if svc.stop() else 'not started by the demo'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo, or stop what it left running."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "down", "screenshots"])
    parser.add_argument("--quick", action="store_true", help="the small story (CI): ~2,500 messages")
    parser.add_argument(
        "--stop", action="store_true", help="stop the servers at the end instead of keeping them"
    )
    args = parser.parse_args(argv)
    quiet()
    settings = DemoSettings()
    if args.command == "down":
        return _down(settings)
    if args.command == "screenshots":
        from demo.screenshots import ScreenshotError  # noqa: PLC0415
        from demo.screenshots import main as screenshots  # noqa: PLC0415

        try:
            return screenshots(settings)
        except (ScreenshotError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    if args.quick:
        settings = settings.model_copy(update={"quick": True})
    return _run(settings, keep=settings.keep_services and not args.stop)


def _run(settings: DemoSettings, keep: bool) -> int:
    """The story under a live view (or plain lines when not on a terminal), then the summary."""
    console = Console()
    if not console.is_terminal:  # CI logs and pipes: wide enough for the closing tables
        console = Console(width=140)
    story = Story(settings, console)
    stop_on_signal()
    code = 0
    try:
        if console.is_terminal:
            with Live(
                get_renderable=story.view.render, console=console, refresh_per_second=4, transient=False
            ):
                summary = run_story(settings, story)
        else:
            summary = run_story(settings, story)
        console.print(summary_tables(summary))
        console.print(f"Summary: {story.run_dir / 'summary.json'}; logs: {story.run_dir}/*.log")
        code = 1 if summary.unaccounted or summary.with_both else 0
    except KeyboardInterrupt:
        keep = False
        console.print("[yellow]interrupted: stopping everything this run started")
        code = 130
    except (DemoError, LocalStackError) as err:
        keep = False
        console.print(f"[red]demo failed:[/] {err}")
        code = 1
    except Exception:  # anything else: say so, and still stop what this run started
        keep = False
        console.print_exception()
        code = 1
    finally:
        stopped = story.shutdown(keep_services=keep)
        if stopped:
            console.print(f"stopped: {', '.join(stopped)}")
    if keep and code == 0:
        console.print(
            "The servers stay up for browsing (a second `make demo` reuses them); `make down` stops them."
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
