"""Classic baselines that every speech emotion recognition paper compares with.

scikit-learn is an optional extra (``pip install speechbrain-drnsa[baseline]``);
the modules here import it only when a baseline runs.
"""
