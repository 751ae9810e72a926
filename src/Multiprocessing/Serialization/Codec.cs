using Multiprocessing.Payload;

namespace Multiprocessing.Serialization;

/// <summary>Writes and reads values of one declared type. One instance per type per <see cref="CodecProvider"/>.</summary>
internal abstract class Codec<T>
{
    public abstract void Write(PayloadWriter writer, T value);

    public abstract T Read(ref PayloadReader reader);
}

/// <summary>The "result" of a method that returns nothing: writes no bytes.</summary>
internal readonly struct Unit;

/// <summary>The "argument" of a method that takes none: writes no bytes.</summary>
internal readonly struct NoArgument;

internal sealed class EmptyCodec<T> : Codec<T> where T : struct
{
    public override void Write(PayloadWriter writer, T value) { }

    public override T Read(ref PayloadReader reader) => default;
}

/// <summary>Types that hold no references (primitives, enums, unmanaged structs, tuples of them) are copied byte for byte.</summary>
internal sealed class UnmanagedCodec<T> : Codec<T>
{
    public override void Write(PayloadWriter writer, T value) => writer.WriteRaw(value);

    public override T Read(ref PayloadReader reader) => reader.ReadRaw<T>();
}

internal sealed class StringCodec : Codec<string?>
{
    public override void Write(PayloadWriter writer, string? value) => writer.WriteString(value);

    public override string? Read(ref PayloadReader reader) => reader.ReadString();
}

/// <summary>Arrays of unmanaged elements: a length and one block copy.</summary>
internal sealed class UnmanagedArrayCodec<T> : Codec<T[]?> where T : struct
{
    public override void Write(PayloadWriter writer, T[]? value)
    {
        if (value is null)
        {
            writer.Write(-1);
            return;
        }
        writer.Write(value.Length);
        writer.WriteBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.AsSpan()));
    }

    public override T[]? Read(ref PayloadReader reader)
    {
        int length = reader.Read<int>();
        if (length < 0)
        {
            return null;
        }
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (length > reader.Remaining / Math.Max(size, 1))
        {
            throw new InvalidDataException($"The message claims an array of {length:N0} elements but holds only {reader.Remaining:N0} bytes.");
        }
        var array = GC.AllocateUninitializedArray<T>(length);
        reader.ReadBytes(length * size).CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(array.AsSpan()));
        return array;
    }
}

/// <summary>Arrays of other elements: a length and each element through its own codec.</summary>
internal sealed class ArrayCodec<T>(Codec<T> element) : Codec<T[]?>
{
    public override void Write(PayloadWriter writer, T[]? value)
    {
        if (value is null)
        {
            writer.Write(-1);
            return;
        }
        writer.Write(value.Length);
        foreach (T item in value)
        {
            element.Write(writer, item);
        }
    }

    public override T[]? Read(ref PayloadReader reader)
    {
        int length = reader.Read<int>();
        if (length < 0)
        {
            return null;
        }
        if (length > reader.Remaining)
        {
            throw new InvalidDataException($"The message claims an array of {length:N0} elements but holds only {reader.Remaining:N0} bytes.");
        }
        var array = new T[length];
        for (int i = 0; i < array.Length; i++)
        {
            array[i] = element.Read(ref reader);
        }
        return array;
    }
}

/// <summary>Value tuples whose items hold references (for example <c>(SharedLock, int)</c> or <c>(string, int)</c>) go item by item.</summary>
internal sealed class ValueTupleCodec<T1, T2>(Codec<T1> c1, Codec<T2> c2) : Codec<ValueTuple<T1, T2>>
{
    public override void Write(PayloadWriter writer, ValueTuple<T1, T2> value)
    {
        c1.Write(writer, value.Item1);
        c2.Write(writer, value.Item2);
    }

    public override ValueTuple<T1, T2> Read(ref PayloadReader reader) => (c1.Read(ref reader), c2.Read(ref reader));
}

/// <inheritdoc cref="ValueTupleCodec{T1, T2}"/>
internal sealed class ValueTupleCodec<T1, T2, T3>(Codec<T1> c1, Codec<T2> c2, Codec<T3> c3) : Codec<ValueTuple<T1, T2, T3>>
{
    public override void Write(PayloadWriter writer, ValueTuple<T1, T2, T3> value)
    {
        c1.Write(writer, value.Item1);
        c2.Write(writer, value.Item2);
        c3.Write(writer, value.Item3);
    }

    public override ValueTuple<T1, T2, T3> Read(ref PayloadReader reader) => (c1.Read(ref reader), c2.Read(ref reader), c3.Read(ref reader));
}

/// <inheritdoc cref="ValueTupleCodec{T1, T2}"/>
internal sealed class ValueTupleCodec<T1, T2, T3, T4>(Codec<T1> c1, Codec<T2> c2, Codec<T3> c3, Codec<T4> c4) : Codec<ValueTuple<T1, T2, T3, T4>>
{
    public override void Write(PayloadWriter writer, ValueTuple<T1, T2, T3, T4> value)
    {
        c1.Write(writer, value.Item1);
        c2.Write(writer, value.Item2);
        c3.Write(writer, value.Item3);
        c4.Write(writer, value.Item4);
    }

    public override ValueTuple<T1, T2, T3, T4> Read(ref PayloadReader reader) =>
        (c1.Read(ref reader), c2.Read(ref reader), c3.Read(ref reader), c4.Read(ref reader));
}
