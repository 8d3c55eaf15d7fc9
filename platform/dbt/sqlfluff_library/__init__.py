"""Stand-ins for sqlfluff (`library_path` in .sqlfluff): the shared package's macros that models
call by their dbt namespace (`mesh_conventions.<macro>`), which sqlfluff's jinja templater cannot
load from the macro files. Each renders SQL of the same shape as the real macro."""
