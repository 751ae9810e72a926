namespace PreforkWeb;

/// <summary>Where each worker's dataset lives.</summary>
public enum DatasetMode
{
    /// <summary>Every worker builds its own managed <c>long[]</c> (gunicorn without <c>--preload</c>, or CPython after the reference counts have copied every page).</summary>
    Copied,

    /// <summary>The parent builds one <see cref="Multiprocessing.SharedArray{T}"/> once; every worker maps the same pages.</summary>
    Shared,
}
