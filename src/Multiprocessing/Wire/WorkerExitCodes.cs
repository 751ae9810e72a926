namespace Multiprocessing.Wire;

/// <summary>How a worker process ends; the parent reads these to tell a normal end from a fault.</summary>
internal static class WorkerExitCodes
{
    public const int Normal = 0;
    public const int TaskFailed = 1;
    public const int Usage = 2;
    public const int ProtocolError = 3;
    public const int CannotConnect = 4;
}
