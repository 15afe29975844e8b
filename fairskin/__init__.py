"""fairskin: does a dermatology model fail on dark skin, and can synthetic images fix it?

Stages, each a subpackage importing only earlier ones::

    fairskin.data        readers -> one manifest schema; safe image loading; phantom demo data
    fairskin.label       healthy-skin mask -> ITA -> Fitzpatrick skin type (FST)
    fairskin.conditioning, fairskin.balance   skin-tone-conditioned generation (extra: generate)
    fairskin.audits      per-skin-type classifier audit and synthetic-image audit
    fairskin.reports     self-contained HTML reports of what the others computed
    fairskin.cli         the ``fairskin`` command, a thin layer over the functions above
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
