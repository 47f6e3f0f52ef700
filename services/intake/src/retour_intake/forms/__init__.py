"""The registration form as an XForm, generated from the XLSForm in services/intake/forms/.

``registration.xml`` is committed: the service serves it as it is (OpenRosa form download and
the browser form) and never needs pyxform at run time. ``build.py`` regenerates it.
"""

from importlib.resources import files

FORM_ID = "retour_registration"
XFORM_FILE = "registration.xml"


def registration_xform() -> bytes:
    """The XForm of the registration form, as committed."""
    return files(__name__).joinpath(XFORM_FILE).read_bytes()
