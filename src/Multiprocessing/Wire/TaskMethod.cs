using System.Reflection;
using System.Runtime.CompilerServices;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Wire;

/// <summary>
/// The identity of a task's code: a static method (or a lambda that captures nothing), named by
/// assembly, type and metadata token, so the worker can find the same method in its own copy of
/// the assembly. Delegates that carry state are refused here, before anything is sent.
/// </summary>
internal sealed class TaskMethod
{
    private const BindingFlags AllDeclared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    private TaskMethod(MethodInfo method, Type delegateType, bool needsClosureInstance, string? displayName = null)
    {
        Method = method;
        DelegateType = delegateType;
        NeedsClosureInstance = needsClosureInstance;
        _displayName = displayName;
    }

    private readonly string? _displayName;

    public MethodInfo Method { get; }

    public Type DelegateType { get; }

    /// <summary>The method is an instance method of a compiler-generated closure class with no fields.</summary>
    public bool NeedsClosureInstance { get; }

    public string DisplayName => _displayName ?? Describe(Method);

    /// <summary>
    /// A method known only by its encoded description (a cluster node runs a caller's method without
    /// loading the caller's types): it has a name for messages, and <see cref="Method"/> is a
    /// placeholder that must not be written or run here. Its workers get the caller's description.
    /// </summary>
    public static TaskMethod Described(string displayName) =>
        new(typeof(TaskMethod).GetMethod(nameof(NotLoadedHere), BindingFlags.NonPublic | BindingFlags.Static)!, typeof(Action), needsClosureInstance: false, displayName);

    private static void NotLoadedHere() => throw new InvalidOperationException("This method is known here only by its description.");

    /// <summary>Validates <paramref name="function"/> and captures its identity.</summary>
    /// <exception cref="ArgumentException">The delegate captures state, targets an object, has several targets or was built at run time.</exception>
    public static TaskMethod From(Delegate function, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(function, parameterName);
        if (function.HasSingleTarget is false)
        {
            throw new ArgumentException("The delegate combines several methods (a multicast delegate). Pass one static method.", parameterName);
        }
        MethodInfo method = function.Method;
        Type? declaringType = method.DeclaringType;
        if (declaringType is null || method is not { MetadataToken: not 0 } || method.GetType().Name.Contains("Dynamic", StringComparison.Ordinal) || method.Module.Assembly.IsDynamic)
        {
            throw new ArgumentException(
                $"The delegate points to a method built at run time ({method.Name}, from a compiled expression or Reflection.Emit). A worker process can only run a method it can find by name in an assembly on disk: pass a static method or a lambda.",
                parameterName);
        }
        object? target = function.Target;
        if (target is null)
        {
            return new TaskMethod(method, function.GetType(), needsClosureInstance: false);
        }
        Type targetType = target.GetType();
        if (IsCompilerGenerated(targetType))
        {
            FieldInfo[] captured = targetType.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
            if (captured.Length == 0)
            {
                return new TaskMethod(method, function.GetType(), needsClosureInstance: true);
            }
            string names = string.Join(", ", CapturedNames(target, depth: 0).Distinct());
            throw new ArgumentException(
                $"The lambda passed as '{parameterName}' captures {names}. A task's code travels to the worker process by name only, without the variables it captures, " +
                "so it would see different values there. Pass the value as part of the argument instead (for example a tuple such as items.Select(x => (x, k))), " +
                "or load it once per worker in ProcessPoolOptions.Initializer.",
                parameterName);
        }
        if (method.Name.StartsWith('<'))
        {
            throw new ArgumentException(
                $"The lambda passed as '{parameterName}' captures 'this' (the enclosing {TypeNames.Display(targetType)} instance): it uses an instance member of the class it is written in. " +
                "That object lives in this process and cannot travel with the call. Make the lambda static (use only its parameter and static members), and pass the value it needs as part of the argument.",
                parameterName);
        }
        throw new ArgumentException(
            $"'{parameterName}' is the instance method {Describe(method)} of an object of type {TypeNames.Display(targetType)}. The object lives in this process and cannot travel with the call. " +
            "Make the method static and pass the data it needs as its argument.",
            parameterName);
    }

    private static bool IsCompilerGenerated(Type type) =>
        type.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false) && type.Name.Contains("<>", StringComparison.Ordinal);

    private static IEnumerable<string> CapturedNames(object closure, int depth)
    {
        foreach (FieldInfo field in closure.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (field.Name.EndsWith("__this", StringComparison.Ordinal))
            {
                yield return $"'this' (the enclosing {TypeNames.Display(field.FieldType)} instance, used by an instance member inside the lambda)";
            }
            else if (IsCompilerGenerated(field.FieldType) && depth < 4 && field.GetValue(closure) is { } outer)
            {
                foreach (string name in CapturedNames(outer, depth + 1))
                {
                    yield return name;
                }
            }
            else
            {
                yield return $"'{field.Name}' ({TypeNames.Display(field.FieldType)})";
            }
        }
    }

    /// <summary>
    /// Checks that values of the argument and result types can cross a process boundary.
    /// </summary>
    /// <exception cref="ArgumentException">One cannot; the message names it and says what to do.</exception>
    public void EnsureTransferable(CodecProvider codecs, Type argumentType, Type resultType, string parameterName)
    {
        foreach ((Type type, string role) in new[] { (argumentType, "argument"), (resultType, "result") })
        {
            try
            {
                codecs.Get(type);
            }
            catch (NotSupportedException e)
            {
                throw new ArgumentException($"{DisplayName} cannot run in a worker process: its {role} type is not transferable. {e.Message}", parameterName, e);
            }
        }
    }

    /// <summary>The frame that teaches a worker this method under <paramref name="id"/>.</summary>
    public byte[] RegisterFrame(int id) => Protocol.Frame(FrameType.Register, w =>
    {
        w.Write(id);
        Write(w);
    });

    /// <summary>Writes what the worker needs to find the method again.</summary>
    public void Write(PayloadWriter writer)
    {
        Assembly assembly = Method.Module.Assembly;
        writer.WriteString(assembly.FullName);
        writer.WriteString(assembly.Location);
        writer.WriteString(Method.DeclaringType!.AssemblyQualifiedName);
        writer.Write(Method.MetadataToken);
        writer.WriteString(Method.Name);
        Type[] genericArguments = Method.IsGenericMethod ? Method.GetGenericArguments() : [];
        writer.Write(genericArguments.Length);
        foreach (Type argument in genericArguments)
        {
            writer.WriteString(argument.AssemblyQualifiedName);
        }
        writer.WriteString(DelegateType.AssemblyQualifiedName);
        writer.Write(NeedsClosureInstance);
    }

    /// <summary>Reads a description written by <see cref="Write"/> and builds the delegate in this (worker) process.</summary>
    /// <exception cref="InvalidOperationException">The assembly, type or method cannot be found here; the message says which.</exception>
    public static Delegate Resolve(ref PayloadReader reader)
    {
        string assemblyName = reader.ReadRequiredString();
        string? location = reader.ReadString();
        string typeName = reader.ReadRequiredString();
        int token = reader.Read<int>();
        string methodName = reader.ReadRequiredString();
        var genericArgumentNames = new string[reader.Read<int>()];
        for (int i = 0; i < genericArgumentNames.Length; i++)
        {
            genericArgumentNames[i] = reader.ReadRequiredString();
        }
        string delegateTypeName = reader.ReadRequiredString();
        bool needsClosureInstance = reader.Read<bool>();

        try
        {
            LoadAssembly(assemblyName, location);
            Type type = FindType(typeName);
            MethodInfo method = type.GetMethods(AllDeclared).FirstOrDefault(m => m.MetadataToken == token && m.Name == methodName)
                ?? throw new MissingMethodException($"Method {methodName} (token 0x{token:x8}) is not in {TypeNames.Display(type)} as loaded by the worker.");
            if (genericArgumentNames.Length > 0)
            {
                method = method.MakeGenericMethod(genericArgumentNames.Select(FindType).ToArray());
            }
            Type delegateType = FindType(delegateTypeName);
            object? target = needsClosureInstance
                ? type.GetField("<>9", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)?.GetValue(null) ?? RuntimeHelpers.GetUninitializedObject(type)
                : null;
            return Delegate.CreateDelegate(delegateType, target, method);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException(
                $"The worker could not find {typeName}.{methodName} in assembly {assemblyName} ({location}): {e.Message} " +
                "The worker loads the caller's assemblies from its dependency manifest (.deps.json); an assembly loaded from elsewhere at run time must also be loadable by path.", e);
        }
    }

    private static void LoadAssembly(string assemblyName, string? location)
    {
        try
        {
            Assembly.Load(assemblyName);
        }
        catch (FileNotFoundException) when (!string.IsNullOrEmpty(location) && File.Exists(location))
        {
            Assembly.LoadFrom(location);
        }
    }

    private static Type FindType(string assemblyQualifiedName) =>
        Type.GetType(assemblyQualifiedName, throwOnError: false)
        ?? Type.GetType(assemblyQualifiedName, name => AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a => a.FullName == name.FullName) ?? Assembly.Load(name), typeResolver: null, throwOnError: true)!;

    /// <summary>The method as a caller reads it: declaring type and name.</summary>
    internal static string Describe(MethodInfo method) =>
        $"{(method.DeclaringType is { } t ? TypeNames.Display(t) + "." : "")}{method.Name}";
}
