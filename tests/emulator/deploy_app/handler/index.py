"""A tiny handler for the deploy tests; the redeploy test edits VERSION."""

from deploy_app_layer import GREETING  # shipped in the function's layer

VERSION = "v1"


def handler(event, context):
    return {"version": VERSION, "layer": GREETING}
