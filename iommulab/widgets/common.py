"""What every widget's callbacks share."""
import html


def guarded(fn, show, what="do that"):
    """Run a widget callback; it never raises into the notebook: show(html) says what went wrong."""
    try:
        fn()
    except Exception as e:                  # the last line of defence, not a control flow
        show(f"iommulab could not {what}: {html.escape(type(e).__name__)}: {html.escape(str(e))}")
