# livedocs-runner's R helper: record(name, value) keeps a value as a run's metric, like
# `from livedocs_runner import record` in Python. The runner gives every kernel its path in the
# environment variable LIVEDOCS_R_HELPER; a notebook loads it with
#
#   helper <- Sys.getenv("LIVEDOCS_R_HELPER")
#   if (nzchar(helper)) source(helper) else record <- function(name, value) print(value)
#
# record() displays the value and publishes it as an application/vnd.livedocs.record+json output,
# which the runner reads back (outside the runner, Jupyter ignores that type and shows the text).
# Values: a number, string or logical (a vector of length 1 is a scalar, longer ones are lists),
# a named list, or a data.frame of at most 1000 rows (kept as a table). NA and non-finite
# numbers are kept as null; numbers keep 15 significant digits. Needs jsonlite and IRdisplay
# (both come with Debian's r-cran-irkernel).

record <- function(name, value) {
  if (!is.character(name) || length(name) != 1L || is.na(name) || !nzchar(name)) {
    stop("record() needs a non-empty string name, e.g. record(\"default_rate\", 0.12)")
  }
  if (is.data.frame(value)) {
    if (nrow(value) > 1000L) {
      stop(sprintf("record() keeps tables of at most 1000 rows; this one has %d. Aggregate it first.", nrow(value)))
    }
    rows <- lapply(seq_len(nrow(value)), function(i) unname(lapply(value, function(column) .livedocs_plain(column[[i]]))))
    payload <- list(name = name, kind = "table", value = list(columns = as.list(names(value)), data = rows))
    text <- paste(utils::capture.output(print(value)), collapse = "\n")
  } else {
    payload <- list(name = name, kind = "value", value = .livedocs_plain(value))
    shown <- if (is.numeric(value) && length(value) == 1L) format(value, digits = 6) else
      paste(utils::capture.output(utils::str(value)), collapse = "\n")
    text <- paste0(name, ": ", shown)
  }
  # sent as JSON text, which the runner parses: IRkernel's own JSON writer would round numbers to 4 decimals
  json <- as.character(jsonlite::toJSON(payload, auto_unbox = TRUE, null = "null", na = "null", digits = NA))
  bundle <- list(json, text)
  names(bundle) <- c("application/vnd.livedocs.record+json", "text/plain")
  IRdisplay::publish_mimebundle(bundle)
  invisible(value)
}

.livedocs_plain <- function(value) {
  if (is.null(value)) return(NULL)
  if (is.factor(value)) value <- as.character(value)
  if (inherits(value, c("Date", "POSIXt"))) value <- format(value)
  if (is.list(value)) {
    out <- lapply(value, .livedocs_plain)
    return(if (is.null(names(value))) unname(out) else out)
  }
  if (!is.atomic(value)) stop(sprintf("record() cannot store a %s; use a number, string, list or data.frame.", class(value)[1]))
  if (is.numeric(value)) value[!is.finite(value)] <- NA
  if (length(value) == 1L) return(if (is.na(value)) NULL else unname(value))
  as.list(unname(value))
}

