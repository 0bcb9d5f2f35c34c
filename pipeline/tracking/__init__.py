"""MLflow: the names that tie a sweep's runs together (keys), where runs live (location), the driver's
sweep runs (sweep_runs), a trial's own run (trial_run), run outputs (outputs) and the offline sync.
Imports no ray: the offline commands (report, sync) run without it.
"""
