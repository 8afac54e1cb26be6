#!/usr/bin/env python
"""Django's command-line utility for Omni."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A setting the environment lacks (omni.settings names the variable): one line, not a traceback.
        sys.exit(f"ImproperlyConfigured: {error}")
