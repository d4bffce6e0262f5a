from roost.cli import main

# The name users know, in help and error lines (click would say "python -m roost").
main(prog_name="roost")
