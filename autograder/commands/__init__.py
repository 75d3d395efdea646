"""The plain function behind each verb of the `autograder` command."""
