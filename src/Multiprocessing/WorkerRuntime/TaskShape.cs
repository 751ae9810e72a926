namespace Multiprocessing.WorkerRuntime;

/// <summary>How a task delegate is called: with or without an argument and a token, and what it returns.</summary>
internal enum ReturnKind
{
    Void,
    Value,
    Task,
    TaskOfValue,
    ValueTask,
    ValueTaskOfValue,
}

internal readonly record struct TaskShape(Type ArgumentType, Type ResultType, ReturnKind Return)
{
    /// <summary>Reads the shape off a Func/Action delegate type (the only kinds the public API accepts).</summary>
    public static TaskShape Of(Type delegateType)
    {
        System.Reflection.MethodInfo invoke = delegateType.GetMethod("Invoke")!;
        Type[] parameters = invoke.GetParameters().Select(p => p.ParameterType).ToArray();
        if (parameters.Length > 0 && parameters[^1] == typeof(CancellationToken))
        {
            parameters = parameters[..^1];
        }
        Type argument = parameters.Length == 0 ? typeof(Serialization.NoArgument) : parameters[0];
        Type returns = invoke.ReturnType;
        return returns switch
        {
            _ when returns == typeof(void) => new(argument, typeof(Serialization.Unit), ReturnKind.Void),
            _ when returns == typeof(Task) => new(argument, typeof(Serialization.Unit), ReturnKind.Task),
            _ when returns == typeof(ValueTask) => new(argument, typeof(Serialization.Unit), ReturnKind.ValueTask),
            { IsGenericType: true } when returns.GetGenericTypeDefinition() == typeof(Task<>) => new(argument, returns.GetGenericArguments()[0], ReturnKind.TaskOfValue),
            { IsGenericType: true } when returns.GetGenericTypeDefinition() == typeof(ValueTask<>) => new(argument, returns.GetGenericArguments()[0], ReturnKind.ValueTaskOfValue),
            _ => new(argument, returns, ReturnKind.Value),
        };
    }
}
