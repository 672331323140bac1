"""openSMILE's stock feature sets (eGeMAPSv02, ComParE_2016) at one feature level.

:class:`OpenSmileStockSet` holds what the functionals extractor
(:class:`~speechbrain_drnsa.features.functionals.OpenSmileFunctionals`) and the
frame extractor (:class:`~speechbrain_drnsa.features.lld_sets.OpenSmileLLDSet`)
share: the set's name, checked, its configuration file, and the
``opensmile.Smile`` object, built on first use and rebuilt after pickling.
"""

from pathlib import Path

import opensmile

from speechbrain_drnsa.features.opensmile import skip_distribution_scan

__all__ = ["FEATURE_SETS", "OpenSmileStockSet"]

#: openSMILE's stock sets by name.
FEATURE_SETS = {
    "eGeMAPSv02": opensmile.FeatureSet.eGeMAPSv02,
    "ComParE_2016": opensmile.FeatureSet.ComParE_2016,
}


class OpenSmileStockSet:
    """One stock set at the subclass's ``level``; subclasses add extraction.

    Arguments
    ---------
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.

    Raises
    ------
    ValueError
        If the set is unknown.

    Example
    -------
    >>> class Llds(OpenSmileStockSet):
    ...     level = opensmile.FeatureLevel.LowLevelDescriptors
    >>> Llds("eGeMAPSv02").config.name
    'eGeMAPSv02.conf'
    """

    #: The ``opensmile.FeatureLevel`` a subclass extracts.
    level: opensmile.FeatureLevel
    #: What the set is called in errors.
    kind = "feature set"

    def __init__(self, feature_set: str):
        if feature_set not in FEATURE_SETS:
            raise ValueError(
                f"unknown {self.kind} {feature_set!r}; expected one of {', '.join(FEATURE_SETS)}"
            )
        self.feature_set = feature_set
        self._smile: opensmile.Smile | None = None

    @property
    def config(self) -> Path:
        """openSMILE's configuration file of the set."""
        return Path(self._get_smile().config_path)

    def __getstate__(self) -> dict:
        # the openSMILE object wraps a C library handle: rebuild it in the new process
        return {**self.__dict__, "_smile": None}

    def _get_smile(self) -> opensmile.Smile:
        if self._smile is None:
            skip_distribution_scan()
            self._smile = opensmile.Smile(
                feature_set=FEATURE_SETS[self.feature_set], feature_level=self.level
            )
        return self._smile
