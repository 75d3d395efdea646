"""The only grader code a grading kernel holds: it receives inputs as data, calls the student's function and sends back what happened.

Everything that decides a grade (test families, references, hints, the seeds of the inputs) stays in
the grader's own process (the `autograder` package, never mounted into the sandbox). This package is
mounted alone, read-only, and imported by the kernel before any student code runs:

- `guard`: blocks the operations the lesson teaches where torch dispatches (every thread), and notes
  what a submission does to the grader's machinery;
- `runner`: the stub a graded test cell calls with the grader's request;
- `codec`: tensors and literals as JSON (dtypes, shapes, strides, raw bytes; never pickle);
- `limits`: output cut at the source, so a flood never reaches the grader;
- `cells`: runs a run of ungraded cells sent in one request, each under its own message id;
- `launch`: the kernel entry point for kernels started cold (warm ones are forked by the zygote).
"""
