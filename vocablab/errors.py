"""The one exception type for problems a user can cause and fix."""

import errno

DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # the errnos of a full disk (EFBIG: a file-size limit)


class VocabLabError(Exception):
    """A bad model id, file, text or option, with a message meant for the user.

    The web app shows it with ``gr.Error``; the CLI prints it and exits with status 2.
    """
