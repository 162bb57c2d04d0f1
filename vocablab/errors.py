"""The one exception type for problems a user can cause and fix."""


class VocabLabError(Exception):
    """A bad model id, file, text or option, with a message meant for the user.

    The web app shows it with ``gr.Error``; the CLI prints it and exits with status 2.
    """
